/* SPDX-License-Identifier: MIT */
/*
 * device_callbacks.c - the library's callbacks into a Python device: BAR
 * read/write callables, ioeventfd callables, and the on_* methods. Each
 * takes the GIL (the library calls them on the dispatch thread, which
 * released it); an exception is logged with its traceback through the
 * device's log and becomes an error for the library (uvfpy_report_exception).
 */
#include "device.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Trampolines: the library calls these on the dispatch thread         */
/* ------------------------------------------------------------------ */

bool uvfpy_python_usable(void)
{
	return Py_IsInitialized() && !_Py_IsFinalizing();
}

/* Take the GIL for a callback into device data; NULL (and no GIL held)
 * when Python is no longer usable or the device is going away. */
static uvfpy_device *gil_ensure_self(void *data, PyGILState_STATE *gil)
{
	uvfpy_device *self = data;

	if (!uvfpy_python_usable())
		return NULL;
	*gil = PyGILState_Ensure();
	if (self->dying) {
		PyGILState_Release(*gil);
		return NULL;
	}
	return self;
}

int uvfpy_bar_read_cb(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len)
{
	struct bar_ctx *b = data;
	PyGILState_STATE gil;
	uvfpy_device *self = gil_ensure_self(b->self, &gil);
	PyObject *r;
	int ret = 0;

	if (!self)
		return -EIO;
	if (!self->bar_read[b->index]) {
		ret = -EIO;
		goto out;
	}
	r = PyObject_CallFunction(self->bar_read[b->index], "Kn", (unsigned long long)offset, (Py_ssize_t)len);
	if (!r) {
		ret = uvfpy_report_exception(dev, "BAR read callback");
		goto out;
	}
	if (PyLong_Check(r)) {
		/* an int: the value, little-endian, in len bytes */
		memset(buf, 0, len);
		if (_PyLong_AsByteArray((PyLongObject *)r, buf, len, 1, 0) < 0)
			ret = uvfpy_report_exception(dev, "BAR read callback (int result)");
	} else {
		Py_buffer view;

		if (PyObject_GetBuffer(r, &view, PyBUF_SIMPLE) < 0) {
			ret = uvfpy_report_exception(dev, "BAR read callback (result neither int nor bytes-like)");
		} else {
			if ((size_t)view.len != len) {
				uvf_device_log(dev, UVF_LOG_ERROR,
					       "BAR%u read callback returned %zd bytes for a read of %zu at 0x%llx",
					       b->index, view.len, len, (unsigned long long)offset);
				ret = -EIO;
			} else {
				memcpy(buf, view.buf, len);
			}
			PyBuffer_Release(&view);
		}
	}
	Py_DECREF(r);
out:
	PyGILState_Release(gil);
	return ret;
}

int uvfpy_bar_write_cb(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len)
{
	struct bar_ctx *b = data;
	PyGILState_STATE gil;
	uvfpy_device *self = gil_ensure_self(b->self, &gil);
	PyObject *r;
	int ret = 0;

	if (!self)
		return -EIO;
	/* a BAR without a write callable ignores writes */
	if (self->bar_write[b->index]) {
		r = PyObject_CallFunction(self->bar_write[b->index], "Ky#", (unsigned long long)offset,
					  (const char *)buf, (Py_ssize_t)len);
		if (!r)
			ret = uvfpy_report_exception(dev, "BAR write callback");
		Py_XDECREF(r);
	}
	PyGILState_Release(gil);
	return ret;
}

/*
 * Call self.name(*args) if the object has that method, args built from fmt
 * and ap. Returns the result (new reference), Py_None when absent, or NULL
 * with the exception reported (and *err set).
 */
static PyObject *call_hook_va(uvfpy_device *self, const char *name, int *err, const char *fmt, va_list ap)
{
	PyObject *fn, *args, *r;

	fn = uvfpy_getattr((PyObject *)self, name);
	if (!fn) {
		if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
			PyErr_Clear();
			Py_RETURN_NONE;
		}
		*err = uvfpy_report_exception(self->dev, name);
		return NULL;
	}
	args = Py_VaBuildValue(fmt, ap);
	if (!args) {
		Py_DECREF(fn);
		*err = uvfpy_report_exception(self->dev, name);
		return NULL;
	}
	if (!PyTuple_Check(args)) {
		PyObject *t = PyTuple_Pack(1, args);

		Py_DECREF(args);
		args = t;
		if (!args) {
			Py_DECREF(fn);
			*err = uvfpy_report_exception(self->dev, name);
			return NULL;
		}
	}
	r = PyObject_Call(fn, args, NULL);
	Py_DECREF(fn);
	Py_DECREF(args);
	if (!r)
		*err = uvfpy_report_exception(self->dev, name);
	return r;
}

static PyObject *call_hook(uvfpy_device *self, const char *name, int *err, const char *fmt, ...)
{
	PyObject *r;
	va_list ap;

	va_start(ap, fmt);
	r = call_hook_va(self, name, err, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * The whole of a callback whose hook's result does not matter: take the
 * GIL, call self.name(*args) if it exists, let go. Returns the hook's
 * error (0 when it returned or is absent), or gone when Python is no
 * longer usable or the device is going away.
 */
static int run_hook(void *data, int gone, const char *name, const char *fmt, ...)
{
	PyGILState_STATE gil;
	uvfpy_device *self = gil_ensure_self(data, &gil);
	PyObject *r;
	va_list ap;
	int err = 0;

	if (!self)
		return gone;
	va_start(ap, fmt);
	r = call_hook_va(self, name, &err, fmt, ap);
	va_end(ap);
	Py_XDECREF(r);
	PyGILState_Release(gil);
	return err;
}

static int reset_cb(struct uvf_device *dev, void *data, enum uvf_reset_reason reason)
{
	return run_hook(data, 0, "on_reset", "(i)", (int)reason);
}

static int dma_map_cb(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	return run_hook(data, 0, "on_dma_map", "(KKI)", (unsigned long long)range->address,
			(unsigned long long)range->size, range->prot);
}

static void dma_unmap_cb(struct uvf_device *dev, void *data, const struct uvf_dma_range *range)
{
	PyGILState_STATE gil;
	uvfpy_device *self = gil_ensure_self(data, &gil);
	PyObject *r;
	bool warned = false;
	int err = 0;

	if (!self)
		return;
	r = call_hook(self, "on_dma_unmap", &err, "(KKI)", (unsigned long long)range->address,
		      (unsigned long long)range->size, range->prot);
	Py_XDECREF(r);
	if (range->vaddr) {
		/* views other threads still hold: wait until they let go */
		while (uvfpy_memory_busy_range(self->views, range->vaddr, range->size)) {
			if (!warned)
				uvf_device_log(dev, UVF_LOG_WARNING,
					       "DMA_UNMAP of 0x%llx+0x%llx waits for Python views of it to be released",
					       (unsigned long long)range->address, (unsigned long long)range->size);
			warned = true;
			UVFPY_UNLOCKED(usleep(1000));
		}
		uvfpy_memory_revoke_range(self->views, range->vaddr, range->size);
	}
	PyGILState_Release(gil);
}

static void irq_state_cb(struct uvf_device *dev, void *data, unsigned index)
{
	run_hook(data, 0, "on_irq_state", "(I)", index);
}

static void client_cb(struct uvf_device *dev, void *data, bool connected)
{
	run_hook(data, 0, "on_client", "(O)", connected ? Py_True : Py_False);
}

static int mig_transition_cb(struct uvf_device *dev, void *data, enum uvf_migration_state from,
			     enum uvf_migration_state to)
{
	return run_hook(data, -EIO, "on_migration_transition", "(ii)", (int)from, (int)to);
}

static ssize_t mig_save_cb(struct uvf_device *dev, void *data, void *buf, size_t len)
{
	PyGILState_STATE gil;
	uvfpy_device *self = gil_ensure_self(data, &gil);
	Py_buffer view;
	PyObject *r;
	ssize_t ret;
	int err = 0;

	if (!self)
		return -EIO;
	r = call_hook(self, "on_migration_save", &err, "(n)", (Py_ssize_t)len);
	if (!r) {
		ret = err;
	} else if (r == Py_None) {
		ret = 0;
	} else if (PyObject_GetBuffer(r, &view, PyBUF_SIMPLE) < 0) {
		ret = uvfpy_report_exception(dev, "on_migration_save (result not bytes-like)");
	} else {
		if ((size_t)view.len > len) {
			uvf_device_log(dev, UVF_LOG_ERROR, "on_migration_save returned %zd bytes, at most %zu allowed",
				       view.len, len);
			ret = -EIO;
		} else {
			memcpy(buf, view.buf, (size_t)view.len);
			ret = view.len;
		}
		PyBuffer_Release(&view);
	}
	Py_XDECREF(r);
	PyGILState_Release(gil);
	return ret;
}

static int mig_load_cb(struct uvf_device *dev, void *data, const void *buf, size_t len)
{
	return run_hook(data, -EIO, "on_migration_load", "(y#)", (const char *)buf, (Py_ssize_t)len);
}

static uint64_t mig_pending_cb(struct uvf_device *dev, void *data)
{
	PyGILState_STATE gil;
	uvfpy_device *self = gil_ensure_self(data, &gil);
	unsigned long long v = 0;
	PyObject *r;
	int err = 0;

	if (!self)
		return 0;
	r = call_hook(self, "on_migration_pending", &err, "()");
	if (r && r != Py_None) {
		v = PyLong_AsUnsignedLongLong(r);
		if (PyErr_Occurred()) {
			uvfpy_report_exception(dev, "on_migration_pending");
			v = 0;
		}
	}
	Py_XDECREF(r);
	PyGILState_Release(gil);
	return v;
}

void uvfpy_ioeventfd_cb(struct uvf_device *dev, void *data, uint64_t count)
{
	PyGILState_STATE gil;
	PyObject *r;

	if (!uvfpy_python_usable())
		return;
	gil = PyGILState_Ensure();
	r = PyObject_CallFunction((PyObject *)data, "K", (unsigned long long)count);
	if (!r)
		uvfpy_report_exception(dev, "ioeventfd callback");
	Py_XDECREF(r);
	PyGILState_Release(gil);
}

void uvfpy_device_callbacks(struct uvf_device_callbacks *cb)
{
	cb->reset = reset_cb;
	cb->dma_map = dma_map_cb;
	cb->dma_unmap = dma_unmap_cb;
	cb->irq_state = irq_state_cb;
	cb->client = client_cb;
}

void uvfpy_migration_callbacks(struct uvf_migration_callbacks *cb)
{
	cb->transition = mig_transition_cb;
	cb->save = mig_save_cb;
	cb->load = mig_load_cb;
	cb->pending = mig_pending_cb;
}
