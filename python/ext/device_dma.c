/* SPDX-License-Identifier: MIT */
/*
 * device_dma.c - DMA into client memory from a Python device: copies,
 * asynchronous transfers with a done callable, and memoryviews of mapped
 * client memory (revoked at DMA_UNMAP, see dma_unmap_cb). Any thread.
 */
#include "device.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

/* ------------------------------------------------------------------ */
/* DMA (any thread)                                                     */
/* ------------------------------------------------------------------ */

PyObject *uvfpy_device_dma_read(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	Py_ssize_t len;
	PyObject *bytes;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "Kn:dma_read", &addr, &len))
		return NULL;
	if (len < 0) {
		PyErr_SetString(PyExc_ValueError, "negative length");
		return NULL;
	}
	bytes = PyBytes_FromStringAndSize(NULL, len);
	if (!bytes)
		return NULL;
	UNLOCKED(self, ret, uvf_dma_read(d, addr, PyBytes_AS_STRING(bytes), (size_t)len));
	if (ret < 0) {
		Py_DECREF(bytes);
		return uvfpy_raise(ret, "dma_read");
	}
	return bytes;
}

PyObject *uvfpy_device_dma_write(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	Py_buffer data;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "Ky*:dma_write", &addr, &data))
		return NULL;
	UNLOCKED(self, ret, uvf_dma_write(d, addr, data.buf, (size_t)data.len));
	PyBuffer_Release(&data);
	return result(ret, "dma_write");
}

/* One asynchronous transfer: holds the device, the callable and the buffer
 * until the library calls done. */
struct async_dma {
	uvfpy_device *self;
	PyObject *done;
	PyObject *bytes;  /* read: the destination, handed to done */
	Py_buffer source; /* write: the data, held until done */
};

static void async_free(struct async_dma *a)
{
	if (a->source.obj)
		PyBuffer_Release(&a->source);
	Py_XDECREF(a->bytes);
	Py_XDECREF(a->done);
	Py_XDECREF(a->self);
	PyMem_Free(a);
}

static void async_done(struct uvf_device *dev, void *data, int result_code)
{
	struct async_dma *a = data;
	PyGILState_STATE gil;
	PyObject *r;

	if (!uvfpy_python_usable())
		return;
	gil = PyGILState_Ensure();
	if (!a->self->dying) {
		r = PyObject_CallFunction(a->done, "iO", result_code,
					  result_code == 0 && a->bytes ? a->bytes : Py_None);
		if (!r)
			uvfpy_report_exception(dev, "DMA done callback");
		Py_XDECREF(r);
	}
	async_free(a);
	PyGILState_Release(gil);
}

PyObject *uvfpy_device_dma_read_async(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	Py_ssize_t len;
	PyObject *done;
	struct async_dma *a;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "KnO:dma_read_async", &addr, &len, &done))
		return NULL;
	if (len < 0 || !PyCallable_Check(done)) {
		PyErr_SetString(PyExc_ValueError, "dma_read_async(addr, length >= 0, done callable)");
		return NULL;
	}
	a = PyMem_Calloc(1, sizeof(*a));
	if (!a)
		return PyErr_NoMemory();
	a->bytes = PyBytes_FromStringAndSize(NULL, len);
	if (!a->bytes) {
		PyMem_Free(a);
		return NULL;
	}
	a->self = (uvfpy_device *)Py_NewRef(o);
	a->done = Py_NewRef(done);
	UNLOCKED(self, ret, uvf_dma_read_async(d, addr, PyBytes_AS_STRING(a->bytes), (size_t)len, async_done, a));
	if (ret < 0) {
		async_free(a);
		return uvfpy_raise(ret, "dma_read_async");
	}
	Py_RETURN_NONE;
}

PyObject *uvfpy_device_dma_write_async(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	PyObject *data, *done;
	struct async_dma *a;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "KOO:dma_write_async", &addr, &data, &done))
		return NULL;
	if (!PyCallable_Check(done)) {
		PyErr_SetString(PyExc_TypeError, "done must be callable");
		return NULL;
	}
	a = PyMem_Calloc(1, sizeof(*a));
	if (!a)
		return PyErr_NoMemory();
	if (PyObject_GetBuffer(data, &a->source, PyBUF_SIMPLE) < 0) {
		PyMem_Free(a);
		return NULL;
	}
	a->self = (uvfpy_device *)Py_NewRef(o);
	a->done = Py_NewRef(done);
	UNLOCKED(self, ret, uvf_dma_write_async(d, addr, a->source.buf, (size_t)a->source.len, async_done, a));
	if (ret < 0) {
		async_free(a);
		return uvfpy_raise(ret, "dma_write_async");
	}
	Py_RETURN_NONE;
}

static PyObject *dma_memory(uvfpy_device *self, void *ptr, size_t len, unsigned prot)
{
	uvfpy_memory *m;
	PyObject *view;

	m = uvfpy_memory_new((PyObject *)self, self->views, ptr, len, !(prot & UVF_DMA_MAP_FLAG_WRITE), VIEW_DMA, 0);
	if (!m)
		return NULL;
	view = PyMemoryView_FromObject((PyObject *)m);
	Py_DECREF(m);
	return view;
}

PyObject *uvfpy_device_dma_view(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	Py_ssize_t len;
	unsigned prot = UVF_DMA_MAP_FLAG_READ;
	void *ptr;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "Kn|I:dma_view", &addr, &len, &prot))
		return NULL;
	if (len <= 0)
		return uvfpy_raise(-EINVAL, "dma_view");
	UVFPY_UNLOCKED(ptr = uvf_dma_ptr(d, addr, (size_t)len, prot));
	if (!ptr)
		return uvfpy_raise(-EFAULT, "dma_view (not in one fd-backed mapping with "
					    "that permission)");
	return dma_memory(self, ptr, (size_t)len, prot);
}

PyObject *uvfpy_device_dma_sg(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	Py_ssize_t len;
	unsigned prot = UVF_DMA_MAP_FLAG_READ;
	int max_iov = 16, n, i;
	struct iovec *iov;
	PyObject *list;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "Kn|Ii:dma_sg", &addr, &len, &prot, &max_iov))
		return NULL;
	if (len <= 0 || max_iov < 1 || max_iov > MAX_SG)
		return uvfpy_raise(-EINVAL, "dma_sg");
	iov = PyMem_Calloc((size_t)max_iov, sizeof(*iov));
	if (!iov)
		return PyErr_NoMemory();
	UNLOCKED(self, n, uvf_dma_sg(d, addr, (size_t)len, prot, iov, max_iov));
	if (n < 0) {
		PyMem_Free(iov);
		return uvfpy_raise(n, "dma_sg");
	}
	list = PyList_New(n);
	for (i = 0; list && i < n; i++) {
		PyObject *v = dma_memory(self, iov[i].iov_base, iov[i].iov_len, prot);

		if (!v) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, i, v);
	}
	PyMem_Free(iov);
	return list;
}

PyObject *uvfpy_device_dma_mark_dirty(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned long long addr;
	Py_ssize_t len;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "Kn:dma_mark_dirty", &addr, &len))
		return NULL;
	if (len < 0)
		return uvfpy_raise(-EINVAL, "dma_mark_dirty");
	UVFPY_UNLOCKED(uvf_dma_mark_dirty(d, addr, (size_t)len));
	Py_RETURN_NONE;
}
