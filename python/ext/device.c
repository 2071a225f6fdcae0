/* SPDX-License-Identifier: MIT */
/*
 * device.c - uvf._uvf.Device: libuvf's server (include/uvf/server.h) as a
 * Python base type: its life cycle, the description calls (one to one
 * onto uvf_device_*), serving and interrupts. The library's callbacks
 * into Python are in device_callbacks.c (BAR read/write callables given
 * to set_bar(), ioeventfd callables, and the object's on_* methods: a
 * callback that raises is logged with its traceback and answered with an
 * error, nothing propagates into the library), DMA in device_dma.c.
 * Serving (run, dispatch) and every call other threads may make (IRQs,
 * DMA) run with the GIL released; callbacks take it back.
 */
#include "device.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */

static PyObject *device_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	struct uvf_device_callbacks cb = UVF_DEVICE_CALLBACKS_INIT;
	uvfpy_device *self = (uvfpy_device *)type->tp_alloc(type, 0);
	unsigned i;
	int ret;

	if (!self)
		return NULL;
	self->keep = PyList_New(0);
	self->views = PyList_New(0);
	if (!self->keep || !self->views) {
		Py_DECREF(self);
		return NULL;
	}
	for (i = 0; i < NBARS; i++) {
		self->bars[i].self = self;
		self->bars[i].index = i;
	}
	ret = uvf_device_new(&self->dev);
	if (ret < 0) {
		Py_DECREF(self);
		return uvfpy_raise(ret, "Device");
	}
	uvf_device_set_log(self->dev, uvfpy_log, (void *)"uvf.device", uvfpy_log_level("uvf.device"));
	uvfpy_device_callbacks(&cb);
	ret = uvf_device_set_callbacks(self->dev, &cb, self);
	if (ret < 0) {
		Py_DECREF(self);
		return uvfpy_raise(ret, "Device");
	}
	return (PyObject *)self;
}

static int device_init(PyObject *o, PyObject *args, PyObject *kw)
{
	/* everything happens in __new__, so subclasses may skip super().__init__() */
	return 0;
}

static void free_device(uvfpy_device *self, bool dying)
{
	struct uvf_device *d = self->dev;

	if (!d)
		return;
	self->dev = NULL;
	if (dying)
		self->dying = true;
	uvfpy_memory_revoke(self->views, 0, 0);
	UVFPY_UNLOCKED(uvf_device_free(d));
}

static int device_traverse(PyObject *o, visitproc visit, void *arg)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned i;

	for (i = 0; i < NBARS; i++) {
		Py_VISIT(self->bar_read[i]);
		Py_VISIT(self->bar_write[i]);
	}
	Py_VISIT(self->keep);
	return 0;
}

static int device_clear(PyObject *o)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned i;

	/* the library may still call back: stop it before dropping callables */
	free_device(self, true);
	for (i = 0; i < NBARS; i++) {
		Py_CLEAR(self->bar_read[i]);
		Py_CLEAR(self->bar_write[i]);
	}
	Py_CLEAR(self->keep);
	return 0;
}

static void device_dealloc(PyObject *o)
{
	uvfpy_device *self = (uvfpy_device *)o;

	PyObject_GC_UnTrack(o);
	device_clear(o);
	Py_CLEAR(self->views);
	Py_TYPE(o)->tp_free(o);
}

static PyObject *device_close(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;

	if (!self->dev)
		Py_RETURN_NONE;
	if (self->active) {
		PyErr_SetString(PyExc_RuntimeError, "close() while the device is served or used by other threads "
						    "(stop() and join them first)");
		return NULL;
	}
	if (uvfpy_memory_busy(self->views, 0, 0)) {
		PyErr_SetString(PyExc_BufferError, "release the memoryviews of this device's memory before closing it");
		return NULL;
	}
	free_device(self, false);
	Py_RETURN_NONE;
}

static PyObject *device_get_closed(PyObject *o, void *closure)
{
	return PyBool_FromLong(((uvfpy_device *)o)->dev == NULL);
}

/* ------------------------------------------------------------------ */
/* Description                                                          */
/* ------------------------------------------------------------------ */

static PyObject *device_set_pci_ids(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"vendor", "device", "subsystem_vendor", "subsystem", "class_code", "revision", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned vendor, device, svendor = 0, sdevice = 0, class_code = 0, revision = 0;
	struct uvf_pci_ids ids;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "II|IIII:set_pci_ids", kwlist, &vendor, &device, &svendor, &sdevice,
					 &class_code, &revision))
		return NULL;
	if (vendor > 0xffff || device > 0xffff || svendor > 0xffff || sdevice > 0xffff || revision > 0xff)
		return uvfpy_raise(-EINVAL, "set_pci_ids");
	memset(&ids, 0, sizeof(ids));
	ids.vendor_id = (uint16_t)vendor;
	ids.device_id = (uint16_t)device;
	ids.subsystem_vendor_id = (uint16_t)svendor;
	ids.subsystem_id = (uint16_t)sdevice;
	ids.class_code = class_code;
	ids.revision = (uint8_t)revision;
	return result(uvf_device_set_pci_ids(d, &ids), "set_pci_ids");
}

static PyObject *device_set_bar(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"index", "size", "flags", "read", "write", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned index, flags = 0;
	unsigned long long size;
	PyObject *read = Py_None, *write = Py_None;
	struct uvf_bar_desc desc;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "IK|IOO:set_bar", kwlist, &index, &size, &flags, &read, &write))
		return NULL;
	if (index >= NBARS)
		return uvfpy_raise(-EINVAL, "set_bar");
	if ((read != Py_None && !PyCallable_Check(read)) || (write != Py_None && !PyCallable_Check(write))) {
		PyErr_SetString(PyExc_TypeError, "read and write must be callables or None");
		return NULL;
	}
	memset(&desc, 0, sizeof(desc));
	desc.size = size;
	desc.flags = flags;
	desc.read = read != Py_None ? uvfpy_bar_read_cb : NULL;
	desc.write = write != Py_None ? uvfpy_bar_write_cb : NULL;
	desc.data = &self->bars[index];
	ret = uvf_device_set_bar(d, index, &desc);
	if (ret < 0)
		return uvfpy_raise(ret, "set_bar");
	Py_XSETREF(self->bar_read[index], read != Py_None ? Py_NewRef(read) : NULL);
	Py_XSETREF(self->bar_write[index], write != Py_None ? Py_NewRef(write) : NULL);
	Py_RETURN_NONE;
}

static PyObject *device_bar_memory(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned index;
	size_t size = 0;
	uvfpy_memory *m;
	PyObject *view;
	void *ptr;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "I:bar_memory", &index))
		return NULL;
	ptr = uvf_device_bar_memory(d, index, &size);
	if (!ptr || !size)
		return uvfpy_raise(-EINVAL, "bar_memory (not a BAR_MEMORY BAR)");
	m = uvfpy_memory_new(o, self->views, ptr, size, false, VIEW_BAR, index);
	if (!m)
		return NULL;
	view = PyMemoryView_FromObject((PyObject *)m);
	Py_DECREF(m);
	return view;
}

static PyObject *device_set_bar_mmap_areas(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	struct uvf_mmap_area areas[16];
	unsigned index;
	PyObject *seq, *fast;
	Py_ssize_t n, i;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "IO:set_bar_mmap_areas", &index, &seq))
		return NULL;
	fast = PySequence_Fast(seq, "areas must be a sequence of (offset, size)");
	if (!fast)
		return NULL;
	n = PySequence_Fast_GET_SIZE(fast);
	if (n < 1 || n > 16) {
		Py_DECREF(fast);
		return uvfpy_raise(-EINVAL, "set_bar_mmap_areas");
	}
	for (i = 0; i < n; i++) {
		unsigned long long off, size;

		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "KK", &off, &size)) {
			Py_DECREF(fast);
			return NULL;
		}
		areas[i].offset = off;
		areas[i].size = size;
	}
	Py_DECREF(fast);
	return result(uvf_device_set_bar_mmap_areas(d, index, areas, (unsigned)n), "set_bar_mmap_areas");
}

static PyObject *device_add_ioeventfd(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"bar", "offset", "size", "datamatch", "callback", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	struct uvf_ioeventfd_desc desc = UVF_IOEVENTFD_DESC_INIT;
	unsigned bar, size;
	unsigned long long offset;
	PyObject *datamatch = Py_None, *callback = Py_None;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "IKI|OO:add_ioeventfd", kwlist, &bar, &offset, &size, &datamatch,
					 &callback))
		return NULL;
	if (callback != Py_None && !PyCallable_Check(callback)) {
		PyErr_SetString(PyExc_TypeError, "callback must be callable or None");
		return NULL;
	}
	desc.bar = bar;
	desc.offset = offset;
	desc.size = size;
	if (datamatch != Py_None) {
		desc.flags = UVF_IOEVENTFD_DATAMATCH;
		desc.datamatch = PyLong_AsUnsignedLongLong(datamatch);
		if (PyErr_Occurred())
			return NULL;
	}
	if (callback != Py_None) {
		if (PyList_Append(self->keep, callback) < 0)
			return NULL;
		desc.fn = uvfpy_ioeventfd_cb;
		desc.data = callback;
	}
	ret = uvf_device_add_ioeventfd(d, &desc);
	if (ret < 0)
		return uvfpy_raise(ret, "add_ioeventfd");
	return PyLong_FromLong(ret);
}

static PyObject *device_ioeventfd_fd(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int id, ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "i:ioeventfd_fd", &id))
		return NULL;
	ret = uvf_device_ioeventfd_fd(d, id);
	if (ret < 0)
		return uvfpy_raise(ret, "ioeventfd_fd");
	return PyLong_FromLong(ret);
}

static PyObject *device_set_rom(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	Py_buffer image;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "y*:set_rom", &image))
		return NULL;
	ret = uvf_device_set_rom(d, image.buf, (size_t)image.len);
	PyBuffer_Release(&image);
	return result(ret, "set_rom");
}

static PyObject *device_set_irq_count(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned index, count;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "II:set_irq_count", &index, &count))
		return NULL;
	return result(uvf_device_set_irq_count(d, index, count), "set_irq_count");
}

static PyObject *device_set_pm(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned flags = 0;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "|I:set_pm", &flags))
		return NULL;
	return result(uvf_device_set_pm(d, flags), "set_pm");
}

static PyObject *device_set_msi_flags(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned flags;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "I:set_msi_flags", &flags))
		return NULL;
	return result(uvf_device_set_msi_flags(d, flags), "set_msi_flags");
}

static PyObject *device_set_msix(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"count", "table_bar", "table_offset", "pba_bar", "pba_offset", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned count, table_bar, table_offset, pba_bar, pba_offset;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "IIIII:set_msix", kwlist, &count, &table_bar, &table_offset,
					 &pba_bar, &pba_offset))
		return NULL;
	return result(uvf_device_set_msix(d, count, table_bar, table_offset, pba_bar, pba_offset), "set_msix");
}

static PyObject *device_set_pcie(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"port_type", "max_payload", "flr", "link_speed", "link_width", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	struct uvf_pcie_opts opts = UVF_PCIE_OPTS_INIT;
	unsigned port_type = opts.port_type, max_payload = opts.max_payload, speed = opts.link_speed,
		 width = opts.link_width;
	int flr = 0;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$IIpII:set_pcie", kwlist, &port_type, &max_payload, &flr, &speed,
					 &width))
		return NULL;
	if (port_type > 0xff || max_payload > 0xffff || speed > 0xff || width > 0xff)
		return uvfpy_raise(-EINVAL, "set_pcie");
	opts.port_type = (uint8_t)port_type;
	opts.max_payload = (uint16_t)max_payload;
	opts.flr = flr;
	opts.link_speed = (uint8_t)speed;
	opts.link_width = (uint8_t)width;
	return result(uvf_device_set_pcie(d, &opts), "set_pcie");
}

/* body and the optional writable mask, of the same length */
static int get_body(PyObject *args_writable, Py_buffer *body, Py_buffer *writable)
{
	if (args_writable != Py_None) {
		if (PyObject_GetBuffer(args_writable, writable, PyBUF_SIMPLE) < 0)
			return -1;
		if (writable->len != body->len) {
			PyBuffer_Release(writable);
			PyErr_SetString(PyExc_ValueError, "writable must have the length of the body");
			return -1;
		}
	}
	return 0;
}

static PyObject *device_add_capability(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"cap_id", "body", "writable", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned cap_id;
	Py_buffer body, writable = {0};
	PyObject *w = Py_None;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "Iy*|O:add_capability", kwlist, &cap_id, &body, &w))
		return NULL;
	if (cap_id > 0xff) {
		PyBuffer_Release(&body);
		return uvfpy_raise(-EINVAL, "add_capability");
	}
	if (get_body(w, &body, &writable) < 0) {
		PyBuffer_Release(&body);
		return NULL;
	}
	ret = uvf_device_add_capability(d, (uint8_t)cap_id, body.buf, (size_t)body.len, writable.buf);
	PyBuffer_Release(&body);
	if (writable.obj)
		PyBuffer_Release(&writable);
	if (ret < 0)
		return uvfpy_raise(ret, "add_capability");
	return PyLong_FromLong(ret);
}

static PyObject *device_add_vendor_capability(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"data", "writable", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	Py_buffer body, writable = {0};
	PyObject *w = Py_None;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|O:add_vendor_capability", kwlist, &body, &w))
		return NULL;
	if (get_body(w, &body, &writable) < 0) {
		PyBuffer_Release(&body);
		return NULL;
	}
	ret = uvf_device_add_vendor_capability(d, body.buf, (size_t)body.len, writable.buf);
	PyBuffer_Release(&body);
	if (writable.obj)
		PyBuffer_Release(&writable);
	if (ret < 0)
		return uvfpy_raise(ret, "add_vendor_capability");
	return PyLong_FromLong(ret);
}

static PyObject *device_add_ext_capability(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"cap_id", "version", "body", "writable", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned cap_id, version;
	Py_buffer body, writable = {0};
	PyObject *w = Py_None;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "IIy*|O:add_ext_capability", kwlist, &cap_id, &version, &body, &w))
		return NULL;
	if (cap_id > 0xffff || version > 0xff) {
		PyBuffer_Release(&body);
		return uvfpy_raise(-EINVAL, "add_ext_capability");
	}
	if (get_body(w, &body, &writable) < 0) {
		PyBuffer_Release(&body);
		return NULL;
	}
	ret = uvf_device_add_ext_capability(d, (uint16_t)cap_id, (uint8_t)version, body.buf, (size_t)body.len,
					    writable.buf);
	PyBuffer_Release(&body);
	if (writable.obj)
		PyBuffer_Release(&writable);
	if (ret < 0)
		return uvfpy_raise(ret, "add_ext_capability");
	return PyLong_FromLong(ret);
}

static PyObject *device_find_capability(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"cap_id", "extended", NULL};
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned cap_id;
	int extended = 0, ret;

	LIVE(self, d);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "I|p:find_capability", kwlist, &cap_id, &extended))
		return NULL;
	if (cap_id > 0xffff)
		return uvfpy_raise(-EINVAL, "find_capability");
	UNLOCKED(self, ret, uvf_device_find_capability(d, (uint16_t)cap_id, extended));
	if (ret < 0)
		return uvfpy_raise(ret, "find_capability");
	return PyLong_FromLong(ret);
}

static PyObject *device_config_read(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned offset;
	Py_ssize_t len;
	PyObject *bytes;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "In:config_read", &offset, &len))
		return NULL;
	if (len < 0 || len > 4096)
		return uvfpy_raise(-EINVAL, "config_read");
	bytes = PyBytes_FromStringAndSize(NULL, len);
	if (!bytes)
		return NULL;
	UNLOCKED(self, ret, uvf_device_config_read(d, offset, PyBytes_AS_STRING(bytes), (size_t)len));
	if (ret < 0) {
		Py_DECREF(bytes);
		return uvfpy_raise(ret, "config_read");
	}
	return bytes;
}

static PyObject *device_set_migration(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	struct uvf_migration_callbacks cb = UVF_MIGRATION_CALLBACKS_INIT;
	unsigned flags = 0;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "|I:set_migration", &flags))
		return NULL;
	uvfpy_migration_callbacks(&cb);
	return result(uvf_device_set_migration(d, &cb, self, flags), "set_migration");
}

static PyObject *device_migration_state(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int state;

	LIVE(self, d);
	UNLOCKED(self, state, (int)uvf_device_migration_state(d));
	return PyLong_FromLong(state);
}

/* ------------------------------------------------------------------ */
/* Serving                                                              */
/* ------------------------------------------------------------------ */

static int parse_serve_opts(PyObject *kw, struct uvf_serve_opts *opts)
{
	static char *kwlist[] = {"socket_mode",	   "max_data_xfer_size",   "max_msg_fds",
				 "max_dma_maps",   "dma_timeout_ms",	   "poll_us",
				 "no_twin_socket", "handshake_timeout_ms", NULL};
	PyObject *empty = PyTuple_New(0);
	unsigned mode = opts->socket_mode;
	int no_twin = 0, ok;

	if (!empty)
		return -1;
	ok = PyArg_ParseTupleAndKeywords(empty, kw, "|$IIIIiIpi:listen", kwlist, &mode, &opts->max_data_xfer_size,
					 &opts->max_msg_fds, &opts->max_dma_maps, &opts->dma_timeout_ms, &opts->poll_us,
					 &no_twin, &opts->handshake_timeout_ms);
	Py_DECREF(empty);
	if (!ok)
		return -1;
	opts->socket_mode = (mode_t)mode;
	opts->no_twin_socket = no_twin;
	return 0;
}

static PyObject *device_listen(PyObject *o, PyObject *args, PyObject *kw)
{
	uvfpy_device *self = (uvfpy_device *)o;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	PyObject *path;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "O&:listen", PyUnicode_FSConverter, &path))
		return NULL;
	if (parse_serve_opts(kw, &opts) < 0) {
		Py_DECREF(path);
		return NULL;
	}
	UNLOCKED(self, ret, uvf_device_listen(d, PyBytes_AS_STRING(path), &opts));
	Py_DECREF(path);
	return result(ret, "listen");
}

static PyObject *device_listen_fd(PyObject *o, PyObject *args, PyObject *kw)
{
	uvfpy_device *self = (uvfpy_device *)o;
	struct uvf_serve_opts opts = UVF_SERVE_OPTS_INIT;
	int fd, ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "i:listen_fd", &fd))
		return NULL;
	if (parse_serve_opts(kw, &opts) < 0)
		return NULL;
	UNLOCKED(self, ret, uvf_device_listen_fd(d, fd, &opts));
	return result(ret, "listen_fd");
}

static PyObject *device_poll_fd(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int ret;

	LIVE(self, d);
	ret = uvf_device_poll_fd(d);
	if (ret < 0)
		return uvfpy_raise(ret, "poll_fd");
	return PyLong_FromLong(ret);
}

static PyObject *device_dispatch(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int ret;

	LIVE(self, d);
	UNLOCKED(self, ret, uvf_device_dispatch(d));
	if (ret < 0)
		return uvfpy_raise(ret, "dispatch");
	return PyLong_FromLong(ret);
}

static PyObject *device_run(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int ret;

	LIVE(self, d);
	UNLOCKED(self, ret, uvf_device_run(d));
	return result(ret, "run");
}

static PyObject *device_stop(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;

	LIVE(self, d);
	uvf_device_stop(d);
	Py_RETURN_NONE;
}

static PyObject *device_client_connected(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;
	bool c;

	LIVE(self, d);
	UNLOCKED(self, c, uvf_device_client_connected(d));
	return PyBool_FromLong(c);
}

static PyObject *device_log(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int level;
	const char *line;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "is:log", &level, &line))
		return NULL;
	if (level < UVF_LOG_ERROR || level > UVF_LOG_DEBUG)
		return uvfpy_raise(-EINVAL, "log");
	uvf_device_log(d, (enum uvf_log_level)level, "%s", line);
	Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Interrupts (any thread)                                              */
/* ------------------------------------------------------------------ */

static PyObject *device_irq_trigger(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned index, vector;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "II:irq_trigger", &index, &vector))
		return NULL;
	UNLOCKED(self, ret, uvf_irq_trigger(d, index, vector));
	return result(ret, "irq_trigger");
}

static PyObject *device_irq_raise(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned vector;
	int ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "I:irq_raise", &vector))
		return NULL;
	UNLOCKED(self, ret, uvf_irq_raise(d, vector));
	return result(ret, "irq_raise");
}

static PyObject *device_irq_mode(PyObject *o, PyObject *unused)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int ret;

	LIVE(self, d);
	UNLOCKED(self, ret, uvf_irq_mode(d));
	if (ret < 0)
		return uvfpy_raise(ret, "irq_mode");
	return PyLong_FromLong(ret);
}

static PyObject *device_set_intx_level(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	int asserted, ret;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "p:set_intx_level", &asserted))
		return NULL;
	UNLOCKED(self, ret, uvf_irq_set_intx_level(d, asserted));
	return result(ret, "set_intx_level");
}

static PyObject *device_irq_enabled(PyObject *o, PyObject *args)
{
	uvfpy_device *self = (uvfpy_device *)o;
	unsigned index, vector;
	bool on;

	LIVE(self, d);
	if (!PyArg_ParseTuple(args, "II:irq_enabled", &index, &vector))
		return NULL;
	UNLOCKED(self, on, uvf_irq_enabled(d, index, vector));
	return PyBool_FromLong(on);
}

#define MX(name, flags, doc)                                                                                           \
	{                                                                                                              \
#name, (PyCFunction)(void (*)(void))uvfpy_device_##name, flags, doc                                    \
	}
#define M(name, flags, doc)                                                                                            \
	{                                                                                                              \
#name, (PyCFunction)(void (*)(void))device_##name, flags, doc                                          \
	}

static PyMethodDef device_methods[] = {
	M(close, METH_NOARGS, "Stop serving and free the device (removes the socket file)."),
	M(set_pci_ids, METH_VARARGS | METH_KEYWORDS,
	  "set_pci_ids(vendor, device, subsystem_vendor=0, subsystem=0, class_code=0, revision=0)."),
	M(set_bar, METH_VARARGS | METH_KEYWORDS, "set_bar(index, size, flags=0, read=None, write=None)."),
	M(bar_memory, METH_VARARGS, "bar_memory(index) -> memoryview of a BAR_MEMORY BAR."),
	M(set_bar_mmap_areas, METH_VARARGS, "set_bar_mmap_areas(index, [(offset, size), ...])."),
	M(add_ioeventfd, METH_VARARGS | METH_KEYWORDS,
	  "add_ioeventfd(bar, offset, size, datamatch=None, callback=None) -> id."),
	M(ioeventfd_fd, METH_VARARGS, "ioeventfd_fd(id) -> the eventfd (owned by the device)."),
	M(set_rom, METH_VARARGS, "set_rom(image)."),
	M(set_irq_count, METH_VARARGS, "set_irq_count(index, count)."),
	M(set_pm, METH_VARARGS, "set_pm(flags=0): Power Management capability."),
	M(set_msi_flags, METH_VARARGS, "set_msi_flags(flags)."),
	M(set_msix, METH_VARARGS | METH_KEYWORDS, "set_msix(count, table_bar, table_offset, pba_bar, pba_offset)."),
	M(set_pcie, METH_VARARGS | METH_KEYWORDS,
	  "set_pcie(*, port_type, max_payload, flr, link_speed, link_width): PCI Express capability."),
	M(add_capability, METH_VARARGS | METH_KEYWORDS, "add_capability(cap_id, body, writable=None) -> offset."),
	M(add_vendor_capability, METH_VARARGS | METH_KEYWORDS, "add_vendor_capability(data, writable=None) -> offset."),
	M(add_ext_capability, METH_VARARGS | METH_KEYWORDS,
	  "add_ext_capability(cap_id, version, body, writable=None) -> offset."),
	M(find_capability, METH_VARARGS | METH_KEYWORDS, "find_capability(cap_id, extended=False) -> offset."),
	M(config_read, METH_VARARGS, "config_read(offset, length) -> bytes of the emulated config space."),
	M(set_migration, METH_VARARGS, "set_migration(flags=0): migrate through the on_migration_* methods."),
	M(migration_state, METH_NOARGS, "The current migration state."),
	M(listen, METH_VARARGS | METH_KEYWORDS, "listen(path, **opts): freeze the description and listen."),
	M(listen_fd, METH_VARARGS | METH_KEYWORDS, "listen_fd(fd, **opts)."),
	M(poll_fd, METH_NOARGS, "An fd readable when dispatch() has work."),
	M(dispatch, METH_NOARGS, "Do the pending work without blocking; 1 once stop() was called."),
	M(run, METH_NOARGS, "Serve until stop() (releases the GIL)."),
	M(stop, METH_NOARGS, "Make run()/dispatch() return; any thread."),
	M(client_connected, METH_NOARGS, "Whether a client is connected."),
	M(log, METH_VARARGS, "log(level, line) through the device's logger."),
	M(irq_trigger, METH_VARARGS, "irq_trigger(index, vector); any thread."),
	M(irq_raise, METH_VARARGS, "irq_raise(vector) in the mode the guest enabled; any thread."),
	M(irq_mode, METH_NOARGS, "The IRQ index irq_raise() would use now."),
	M(set_intx_level, METH_VARARGS, "set_intx_level(asserted); any thread."),
	M(irq_enabled, METH_VARARGS, "irq_enabled(index, vector) -> bool."),
	MX(dma_read, METH_VARARGS, "dma_read(addr, length) -> bytes; any thread."),
	MX(dma_write, METH_VARARGS, "dma_write(addr, data); any thread."),
	MX(dma_read_async, METH_VARARGS,
	   "dma_read_async(addr, length, done): done(result, data) on the dispatch thread."),
	MX(dma_write_async, METH_VARARGS,
	   "dma_write_async(addr, data, done): done(result, None) on the dispatch thread."),
	MX(dma_view, METH_VARARGS, "dma_view(addr, length, prot=DMA_READ) -> memoryview of mapped client memory."),
	MX(dma_sg, METH_VARARGS, "dma_sg(addr, length, prot=DMA_READ, max_iov=16) -> list of memoryviews."),
	MX(dma_mark_dirty, METH_VARARGS, "dma_mark_dirty(addr, length): report direct writes while logging."),
	{NULL},
};

static PyGetSetDef device_getset[] = {
	{"closed", device_get_closed, NULL, "Whether close() was called", NULL},
	{NULL},
};

static PyTypeObject device_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvf._uvf.Device",
	.tp_basicsize = sizeof(uvfpy_device),
	.tp_new = device_new,
	.tp_init = device_init,
	.tp_dealloc = device_dealloc,
	.tp_traverse = device_traverse,
	.tp_clear = device_clear,
	.tp_methods = device_methods,
	.tp_getset = device_getset,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A vfio-user PCI device served by libuvf; subclass uvf.Device.",
};

int uvfpy_device_init(PyObject *module)
{
	if (PyType_Ready(&device_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Device", (PyObject *)&device_type);
}
