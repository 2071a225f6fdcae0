/* SPDX-License-Identifier: MIT */
/*
 * client.c - uvf._uvf.Client: libuvf's client (include/uvf/client.h) as a
 * Python type. Every call that talks to the server runs with the GIL
 * released, so other Python threads (and a Python device served in the
 * same process) go on meanwhile.
 *
 * Memory the client lends to Python (mapped BAR areas, DMA buffers) is
 * handed out as uvf._uvf.Memory objects kept in `views`; unmapping such
 * memory while a buffer of it is still exported is refused (BufferError),
 * and afterwards the Memory is revoked.
 */
#include "uvfpy.h"

#include <errno.h>
#include <string.h>

enum { VIEW_REGION = 1, VIEW_DMA = 2 };

typedef struct {
	PyObject ob_base; /* PyObject_HEAD */
	struct uvf_client *client;
	PyObject *views;      /* list of Memory */
	PyObject *registered; /* dict (iova, size) -> capsule of a Py_buffer (dma_register) */
	int active;	      /* calls running with the GIL released */
} uvfpy_client;

static PyTypeObject device_info_type, region_info_type, irq_info_type;

static PyStructSequence_Field device_info_fields[] = {
	{"flags", "DEVICE_RESET, DEVICE_PCI"},
	{"num_regions", NULL},
	{"num_irqs", NULL},
	{NULL},
};
static PyStructSequence_Desc device_info_desc = {"uvf.DeviceInfo", "DEVICE_GET_INFO", device_info_fields, 3};

static PyStructSequence_Field region_info_fields[] = {
	{"index", NULL},
	{"flags", "REGION_READ, REGION_WRITE, REGION_MMAP"},
	{"size", "0 = absent"},
	{"offset", "mmap offset in fd"},
	{"fd", "-1, or an fd owned by the client"},
	{"sparse_areas", "tuple of (offset, size)"},
	{"type", "region type, or None"},
	{"subtype", "region subtype, or None"},
	{NULL},
};
static PyStructSequence_Desc region_info_desc = {"uvf.RegionInfo", "DEVICE_GET_REGION_INFO", region_info_fields, 8};

static PyStructSequence_Field irq_info_fields[] = {
	{"index", NULL},
	{"flags", NULL},
	{"count", NULL},
	{NULL},
};
static PyStructSequence_Desc irq_info_desc = {"uvf.IrqInfo", "DEVICE_GET_IRQ_INFO", irq_info_fields, 3};

static struct uvf_client *live(uvfpy_client *self)
{
	if (!self->client)
		PyErr_SetString(PyExc_ValueError, "the client is closed");
	return self->client;
}

/* Run expr with the GIL released; ret receives its value. */
#define UNLOCKED(self, ret, expr)                                                                                      \
	do {                                                                                                           \
		(self)->active++;                                                                                      \
		UVFPY_UNLOCKED((ret) = (expr));                                                                        \
		(self)->active--;                                                                                      \
	} while (0)

#define LIVE(self, c)                                                                                                  \
	struct uvf_client *c = live(self);                                                                             \
	if (!c)                                                                                                        \
	return NULL

static PyObject *result(int ret, const char *what)
{
	if (ret < 0)
		return uvfpy_raise(ret, what);
	Py_RETURN_NONE;
}

static void release_registered(PyObject *capsule)
{
	Py_buffer *view = PyCapsule_GetPointer(capsule, NULL);

	if (view) {
		PyBuffer_Release(view);
		PyMem_Free(view);
		PyCapsule_SetPointer(capsule, (void *)1); /* released; the destructor skips it */
	}
	PyErr_Clear();
}

static void registered_destructor(PyObject *capsule)
{
	Py_buffer *view = PyCapsule_GetPointer(capsule, NULL);

	if (view && view != (void *)1) {
		PyBuffer_Release(view);
		PyMem_Free(view);
	}
	PyErr_Clear();
}

static int client_init(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path",    "timeout_ms",	"max_data_xfer_size", "max_msg_fds",
				 "poll_us", "no_posted_writes", "no_twin_socket",     NULL};
	uvfpy_client *self = (uvfpy_client *)o;
	struct uvf_client_opts opts = UVF_CLIENT_OPTS_INIT;
	struct uvf_client *c = NULL;
	PyObject *path;
	int no_posted = 0, no_twin = 0, ret;

	if (self->client) {
		PyErr_SetString(PyExc_RuntimeError, "the client is already connected");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$iIIIpp:Client", kwlist, PyUnicode_FSConverter, &path,
					 &opts.timeout_ms, &opts.max_data_xfer_size, &opts.max_msg_fds, &opts.poll_us,
					 &no_posted, &no_twin))
		return -1;
	opts.no_posted_writes = no_posted;
	opts.no_twin_socket = no_twin;
	opts.log = uvfpy_log;
	opts.log_data = (void *)"uvf.client";
	opts.log_level = uvfpy_log_level("uvf.client");
	UVFPY_UNLOCKED(ret = uvf_client_connect(&c, PyBytes_AS_STRING(path), &opts));
	Py_DECREF(path);
	if (ret < 0) {
		uvfpy_raise(ret, "connect");
		return -1;
	}
	self->client = c;
	return 0;
}

static PyObject *client_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	uvfpy_client *self = (uvfpy_client *)type->tp_alloc(type, 0);

	if (!self)
		return NULL;
	self->views = PyList_New(0);
	self->registered = PyDict_New();
	if (!self->views || !self->registered) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static void drop_registered(uvfpy_client *self)
{
	PyObject *key, *value;
	Py_ssize_t pos = 0;

	while (PyDict_Next(self->registered, &pos, &key, &value))
		release_registered(value);
	PyDict_Clear(self->registered);
}

static void close_client(uvfpy_client *self)
{
	struct uvf_client *c = self->client;

	if (!c)
		return;
	self->client = NULL;
	uvfpy_memory_revoke(self->views, 0, 0);
	UVFPY_UNLOCKED(uvf_client_close(c));
	drop_registered(self);
}

static void client_dealloc(PyObject *o)
{
	uvfpy_client *self = (uvfpy_client *)o;

	/* views hold a reference to us: none can be exported any more */
	close_client(self);
	Py_XDECREF(self->views);
	Py_XDECREF(self->registered);
	Py_TYPE(o)->tp_free(o);
}

static PyObject *client_close(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;

	if (!self->client)
		Py_RETURN_NONE;
	if (self->active) {
		PyErr_SetString(PyExc_RuntimeError, "close() while other threads are in calls on this client");
		return NULL;
	}
	if (uvfpy_memory_busy(self->views, 0, 0)) {
		PyErr_SetString(PyExc_BufferError, "release the memoryviews of this client's memory before closing it");
		return NULL;
	}
	close_client(self);
	Py_RETURN_NONE;
}

static PyObject *client_get_closed(PyObject *o, void *closure)
{
	return PyBool_FromLong(((uvfpy_client *)o)->client == NULL);
}

static PyObject *client_server_caps(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	const struct uvf_server_caps *caps;

	LIVE(self, c);
	caps = uvf_client_server_caps(c);
	return Py_BuildValue("{s:I,s:I,s:I,s:I,s:I,s:K,s:O,s:O,s:s}", "major", caps->major, "minor", caps->minor,
			     "max_msg_fds", caps->max_msg_fds, "max_data_xfer_size", caps->max_data_xfer_size,
			     "max_dma_maps", caps->max_dma_maps, "pgsizes", (unsigned long long)caps->pgsizes,
			     "write_multiple", caps->write_multiple ? Py_True : Py_False, "twin_socket",
			     caps->twin_socket ? Py_True : Py_False, "json", caps->json);
}

static PyObject *client_device_info(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	struct uvf_msg_device_info info;
	PyObject *r;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_device_info(c, &info));
	if (ret < 0)
		return uvfpy_raise(ret, "device_info");
	r = PyStructSequence_New(&device_info_type);
	if (!r)
		return NULL;
	PyStructSequence_SET_ITEM(r, 0, PyLong_FromUnsignedLong(info.flags));
	PyStructSequence_SET_ITEM(r, 1, PyLong_FromUnsignedLong(info.num_regions));
	PyStructSequence_SET_ITEM(r, 2, PyLong_FromUnsignedLong(info.num_irqs));
	if (PyErr_Occurred()) {
		Py_DECREF(r);
		return NULL;
	}
	return r;
}

static PyObject *client_region_info(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	struct uvf_client_region info;
	PyObject *r, *areas;
	unsigned index;
	uint32_t i;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:region_info", &index))
		return NULL;
	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	UNLOCKED(self, ret, uvf_client_region_info(c, index, &info));
	if (ret < 0)
		return uvfpy_raise(ret, "region_info");
	if (info.nr_sparse_areas > UVF_CLIENT_MAX_SPARSE_AREAS)
		info.nr_sparse_areas = UVF_CLIENT_MAX_SPARSE_AREAS;
	areas = PyTuple_New(info.nr_sparse_areas);
	if (!areas)
		return NULL;
	for (i = 0; i < info.nr_sparse_areas; i++)
		PyTuple_SET_ITEM(areas, i,
				 Py_BuildValue("(KK)", (unsigned long long)info.sparse_areas[i].offset,
					       (unsigned long long)info.sparse_areas[i].size));
	r = PyStructSequence_New(&region_info_type);
	if (!r) {
		Py_DECREF(areas);
		return NULL;
	}
	PyStructSequence_SET_ITEM(r, 0, PyLong_FromUnsignedLong(info.index));
	PyStructSequence_SET_ITEM(r, 1, PyLong_FromUnsignedLong(info.flags));
	PyStructSequence_SET_ITEM(r, 2, PyLong_FromUnsignedLongLong(info.size));
	PyStructSequence_SET_ITEM(r, 3, PyLong_FromUnsignedLongLong(info.offset));
	PyStructSequence_SET_ITEM(r, 4, PyLong_FromLong(info.fd));
	PyStructSequence_SET_ITEM(r, 5, areas);
	if (info.has_type) {
		PyStructSequence_SET_ITEM(r, 6, PyLong_FromUnsignedLong(info.type));
		PyStructSequence_SET_ITEM(r, 7, PyLong_FromUnsignedLong(info.subtype));
	} else {
		PyStructSequence_SET_ITEM(r, 6, Py_NewRef(Py_None));
		PyStructSequence_SET_ITEM(r, 7, Py_NewRef(Py_None));
	}
	if (PyErr_Occurred()) {
		Py_DECREF(r);
		return NULL;
	}
	return r;
}

static PyObject *client_irq_info(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	struct uvf_msg_irq_info info;
	unsigned index;
	PyObject *r;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:irq_info", &index))
		return NULL;
	UNLOCKED(self, ret, uvf_client_irq_info(c, index, &info));
	if (ret < 0)
		return uvfpy_raise(ret, "irq_info");
	r = PyStructSequence_New(&irq_info_type);
	if (!r)
		return NULL;
	PyStructSequence_SET_ITEM(r, 0, PyLong_FromUnsignedLong(info.index));
	PyStructSequence_SET_ITEM(r, 1, PyLong_FromUnsignedLong(info.flags));
	PyStructSequence_SET_ITEM(r, 2, PyLong_FromUnsignedLong(info.count));
	if (PyErr_Occurred()) {
		Py_DECREF(r);
		return NULL;
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* Region access                                                        */
/* ------------------------------------------------------------------ */

typedef int (*read_fn)(struct uvf_client *, uint32_t, uint64_t, void *, size_t);
typedef int (*write_fn)(struct uvf_client *, uint32_t, uint64_t, const void *, size_t);

static PyObject *do_read(uvfpy_client *self, PyObject *args, read_fn fn, const char *what)
{
	unsigned region;
	unsigned long long offset;
	Py_ssize_t len;
	PyObject *bytes;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IKn", &region, &offset, &len))
		return NULL;
	if (len < 0) {
		PyErr_SetString(PyExc_ValueError, "negative length");
		return NULL;
	}
	bytes = PyBytes_FromStringAndSize(NULL, len);
	if (!bytes)
		return NULL;
	UNLOCKED(self, ret, fn(c, region, offset, PyBytes_AS_STRING(bytes), (size_t)len));
	if (ret < 0) {
		Py_DECREF(bytes);
		return uvfpy_raise(ret, what);
	}
	return bytes;
}

static PyObject *do_write(uvfpy_client *self, PyObject *args, write_fn fn, const char *what)
{
	unsigned region;
	unsigned long long offset;
	Py_buffer data;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IKy*", &region, &offset, &data))
		return NULL;
	UNLOCKED(self, ret, fn(c, region, offset, data.buf, (size_t)data.len));
	PyBuffer_Release(&data);
	return result(ret, what);
}

static PyObject *client_region_read(PyObject *o, PyObject *args)
{
	return do_read((uvfpy_client *)o, args, uvf_client_region_read, "region_read");
}

static PyObject *client_region_write(PyObject *o, PyObject *args)
{
	return do_write((uvfpy_client *)o, args, uvf_client_region_write, "region_write");
}

static PyObject *client_access_read(PyObject *o, PyObject *args)
{
	return do_read((uvfpy_client *)o, args, uvf_client_access_read, "access_read");
}

static PyObject *client_access_write(PyObject *o, PyObject *args)
{
	return do_write((uvfpy_client *)o, args, uvf_client_access_write, "access_write");
}

static PyObject *client_write_posted(PyObject *o, PyObject *args)
{
	return do_write((uvfpy_client *)o, args, uvf_client_region_write_posted, "region_write_posted");
}

static PyObject *client_region_read_into(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned region;
	unsigned long long offset;
	Py_buffer buf;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IKw*:region_read_into", &region, &offset, &buf))
		return NULL;
	UNLOCKED(self, ret, uvf_client_region_read(c, region, offset, buf.buf, (size_t)buf.len));
	PyBuffer_Release(&buf);
	return result(ret, "region_read_into");
}

static PyObject *client_config_read(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned offset, size;
	uint8_t v8 = 0;
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "II:config_read", &offset, &size))
		return NULL;
	switch (size) {
	case 1:
		UNLOCKED(self, ret, uvf_client_config_read8(c, offset, &v8));
		v32 = v8;
		break;
	case 2:
		UNLOCKED(self, ret, uvf_client_config_read16(c, offset, &v16));
		v32 = v16;
		break;
	case 4:
		UNLOCKED(self, ret, uvf_client_config_read32(c, offset, &v32));
		break;
	default:
		PyErr_SetString(PyExc_ValueError, "size must be 1, 2 or 4");
		return NULL;
	}
	if (ret < 0)
		return uvfpy_raise(ret, "config_read");
	return PyLong_FromUnsignedLong(v32);
}

static PyObject *client_config_write(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned offset, size;
	unsigned long value;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IIk:config_write", &offset, &size, &value))
		return NULL;
	if (size > 4 || (size < 4 && value >> (8 * size)) || value > 0xffffffffUL) {
		PyErr_SetString(PyExc_ValueError, "value does not fit the size");
		return NULL;
	}
	switch (size) {
	case 1:
		UNLOCKED(self, ret, uvf_client_config_write8(c, offset, (uint8_t)value));
		break;
	case 2:
		UNLOCKED(self, ret, uvf_client_config_write16(c, offset, (uint16_t)value));
		break;
	case 4:
		UNLOCKED(self, ret, uvf_client_config_write32(c, offset, (uint32_t)value));
		break;
	default:
		PyErr_SetString(PyExc_ValueError, "size must be 1, 2 or 4");
		return NULL;
	}
	return result(ret, "config_write");
}

/* ------------------------------------------------------------------ */
/* Fast access                                                          */
/* ------------------------------------------------------------------ */

/* Before a region's mapping goes: its views end, unless one is still
 * exported (BufferError, -1). */
static int revoke_region_views(uvfpy_client *self, unsigned index)
{
	if (uvfpy_memory_busy(self->views, VIEW_REGION, index)) {
		PyErr_SetString(PyExc_BufferError, "views of this region are still exported");
		return -1;
	}
	uvfpy_memory_revoke(self->views, VIEW_REGION, index);
	return 0;
}

static PyObject *client_region_map(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:region_map", &index))
		return NULL;
	/* mapping again undoes the previous mapping first */
	if (revoke_region_views(self, index) < 0)
		return NULL;
	UNLOCKED(self, ret, uvf_client_region_map(c, index));
	return result(ret, "region_map");
}

static PyObject *client_region_unmap(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:region_unmap", &index))
		return NULL;
	if (revoke_region_views(self, index) < 0)
		return NULL;
	UNLOCKED(self, ret, uvf_client_region_unmap(c, index));
	return result(ret, "region_unmap");
}

static PyObject *client_region_view(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index;
	unsigned long long offset;
	Py_ssize_t len;
	uvfpy_memory *m;
	PyObject *view;
	void *ptr;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IKn:region_view", &index, &offset, &len))
		return NULL;
	if (len <= 0) {
		PyErr_SetString(PyExc_ValueError, "length must be positive");
		return NULL;
	}
	/* the library's region lock: never wait for it holding the GIL */
	UVFPY_UNLOCKED(ptr = uvf_client_region_ptr(c, index, offset, (size_t)len));

	if (!ptr)
		return uvfpy_raise(-EINVAL, "region_view (not inside one mapped area: region_map() first?)");
	m = uvfpy_memory_new(o, self->views, ptr, (size_t)len, false, VIEW_REGION, index);
	if (!m)
		return NULL;
	view = PyMemoryView_FromObject((PyObject *)m);
	Py_DECREF(m);
	return view;
}

static PyObject *client_region_io_fds(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	struct uvf_client_ioeventfd fds[64];
	size_t count = 0, i;
	unsigned index;
	PyObject *list;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:region_io_fds", &index))
		return NULL;
	UNLOCKED(self, ret, uvf_client_region_io_fds(c, index, fds, sizeof(fds[0]), 64, &count));
	if (ret < 0)
		return uvfpy_raise(ret, "region_io_fds");
	if (count > 64)
		count = 64;
	list = PyList_New((Py_ssize_t)count);
	if (!list)
		return NULL;
	for (i = 0; i < count; i++) {
		PyObject *t = Py_BuildValue("{s:K,s:K,s:I,s:K,s:i}", "offset", (unsigned long long)fds[i].offset,
					    "size", (unsigned long long)fds[i].size, "flags", fds[i].flags, "datamatch",
					    (unsigned long long)fds[i].datamatch, "fd", fds[i].fd);
		if (!t) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, t);
	}
	return list;
}

static PyObject *client_cork(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	int corked, ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "p:cork", &corked))
		return NULL;
	UNLOCKED(self, ret, uvf_client_cork(c, corked));
	return result(ret, "cork");
}

static PyObject *client_flush(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_flush(c));
	return result(ret, "flush");
}

/* ------------------------------------------------------------------ */
/* DMA                                                                  */
/* ------------------------------------------------------------------ */

static PyObject *client_dma_alloc(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"iova", "size", "prot", NULL};
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned long long iova;
	Py_ssize_t size;
	unsigned prot = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE;
	uvfpy_memory *m;
	PyObject *view;
	void *ptr = NULL;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "Kn|I:dma_alloc", kwlist, &iova, &size, &prot))
		return NULL;
	if (size <= 0)
		return uvfpy_raise(-EINVAL, "dma_alloc");
	UNLOCKED(self, ret, uvf_client_dma_alloc(c, iova, (size_t)size, prot, &ptr));
	if (ret < 0)
		return uvfpy_raise(ret, "dma_alloc");
	m = uvfpy_memory_new(o, self->views, ptr, (size_t)size, false, VIEW_DMA, iova);
	if (!m)
		return NULL;
	view = PyMemoryView_FromObject((PyObject *)m);
	Py_DECREF(m);
	return view;
}

static PyObject *client_dma_map_fd(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"iova", "size", "prot", "fd", "offset", NULL};
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned long long iova, offset = 0;
	Py_ssize_t size;
	unsigned prot;
	int fd, ret;

	LIVE(self, c);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "KnIi|K:dma_map_fd", kwlist, &iova, &size, &prot, &fd, &offset))
		return NULL;
	if (size <= 0)
		return uvfpy_raise(-EINVAL, "dma_map_fd");
	UNLOCKED(self, ret, uvf_client_dma_map_fd(c, iova, (size_t)size, prot, fd, offset));
	return result(ret, "dma_map_fd");
}

static PyObject *client_dma_register(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"iova", "buffer", "prot", NULL};
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned long long iova;
	unsigned prot = UVF_DMA_MAP_FLAG_READ | UVF_DMA_MAP_FLAG_WRITE;
	PyObject *obj, *key, *capsule;
	Py_buffer *view;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "KO|I:dma_register", kwlist, &iova, &obj, &prot))
		return NULL;
	view = PyMem_Calloc(1, sizeof(*view));
	if (!view)
		return PyErr_NoMemory();
	/* the server may write into it: it must be writable and stay put */
	if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
		PyMem_Free(view);
		return NULL;
	}
	capsule = PyCapsule_New(view, NULL, registered_destructor);
	if (!capsule) {
		PyBuffer_Release(view);
		PyMem_Free(view);
		return NULL;
	}
	key = Py_BuildValue("(Kn)", iova, view->len);
	if (!key) {
		Py_DECREF(capsule);
		return NULL;
	}
	UNLOCKED(self, ret, uvf_client_dma_register(c, iova, view->buf, (size_t)view->len, prot));
	if (ret < 0) {
		Py_DECREF(key);
		Py_DECREF(capsule);
		return uvfpy_raise(ret, "dma_register");
	}
	ret = PyDict_SetItem(self->registered, key, capsule);
	Py_DECREF(key);
	Py_DECREF(capsule);
	if (ret < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *client_dma_unregister(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned long long iova;
	Py_ssize_t size;
	PyObject *key, *capsule;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "Kn:dma_unregister", &iova, &size))
		return NULL;
	if (uvfpy_memory_busy(self->views, VIEW_DMA, iova)) {
		PyErr_SetString(PyExc_BufferError, "views of this DMA memory are still exported");
		return NULL;
	}
	UNLOCKED(self, ret, uvf_client_dma_unregister(c, iova, (size_t)size));
	if (ret < 0)
		return uvfpy_raise(ret, "dma_unregister");
	uvfpy_memory_revoke(self->views, VIEW_DMA, iova);
	key = Py_BuildValue("(Kn)", iova, size);
	if (!key)
		return NULL;
	capsule = PyDict_GetItemWithError(self->registered, key);
	if (capsule) {
		release_registered(capsule);
		PyDict_DelItem(self->registered, key);
	}
	Py_DECREF(key);
	if (PyErr_Occurred())
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *client_dma_unregister_all(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	Py_ssize_t i;
	int ret;

	LIVE(self, c);
	for (i = 0; i < PyList_GET_SIZE(self->views); i++) {
		PyObject *m = PyWeakref_GET_OBJECT(PyList_GET_ITEM(self->views, i));

		if (m != Py_None && ((uvfpy_memory *)m)->tag_kind == VIEW_DMA && ((uvfpy_memory *)m)->exports > 0) {
			PyErr_SetString(PyExc_BufferError, "views of DMA memory are still exported");
			return NULL;
		}
	}
	UNLOCKED(self, ret, uvf_client_dma_unregister_all(c));
	if (ret < 0)
		return uvfpy_raise(ret, "dma_unregister_all");
	for (i = 0; i < PyList_GET_SIZE(self->views); i++) {
		PyObject *m = PyWeakref_GET_OBJECT(PyList_GET_ITEM(self->views, i));

		if (m != Py_None && ((uvfpy_memory *)m)->tag_kind == VIEW_DMA)
			((uvfpy_memory *)m)->ptr = NULL;
	}
	uvfpy_memory_revoke(self->views, -1, 0); /* drops the revoked ones */
	drop_registered(self);
	Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Interrupts, reset, raw calls                                         */
/* ------------------------------------------------------------------ */

static PyObject *client_set_irq_eventfds(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index, start;
	PyObject *seq, *fast;
	Py_ssize_t n, i;
	int *fds, ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IIO:set_irq_eventfds", &index, &start, &seq))
		return NULL;
	fast = PySequence_Fast(seq, "fds must be a sequence of file descriptors (-1 detaches)");
	if (!fast)
		return NULL;
	n = PySequence_Fast_GET_SIZE(fast);
	if (n > 4096) {
		Py_DECREF(fast);
		return uvfpy_raise(-EINVAL, "set_irq_eventfds");
	}
	fds = PyMem_Calloc(n ? (size_t)n : 1, sizeof(int));
	if (!fds) {
		Py_DECREF(fast);
		return PyErr_NoMemory();
	}
	for (i = 0; i < n; i++) {
		PyObject *item = PySequence_Fast_GET_ITEM(fast, i);

		fds[i] = item == Py_None ? -1 : PyObject_AsFileDescriptor(item);
		if (fds[i] == -1 && PyErr_Occurred()) {
			if (PyLong_Check(item) && PyLong_AsLong(item) == -1) {
				PyErr_Clear();
			} else {
				PyMem_Free(fds);
				Py_DECREF(fast);
				return NULL;
			}
		}
	}
	Py_DECREF(fast);
	UNLOCKED(self, ret, uvf_client_set_irq_eventfds(c, index, start, (uint32_t)n, fds));
	PyMem_Free(fds);
	return result(ret, "set_irq_eventfds");
}

static PyObject *client_irq_disable(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:irq_disable", &index))
		return NULL;
	UNLOCKED(self, ret, uvf_client_irq_disable(c, index));
	return result(ret, "irq_disable");
}

static PyObject *client_irq_mask(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index, start, count;
	int masked, ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "IIIp:irq_mask", &index, &start, &count, &masked))
		return NULL;
	UNLOCKED(self, ret, uvf_client_irq_mask(c, index, start, count, masked));
	return result(ret, "irq_mask");
}

static PyObject *client_irq_trigger(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned index, start, count;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "III:irq_trigger", &index, &start, &count))
		return NULL;
	UNLOCKED(self, ret, uvf_client_irq_trigger(c, index, start, count));
	return result(ret, "irq_trigger");
}

static PyObject *client_reset(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_reset(c));
	return result(ret, "reset");
}

static PyObject *client_poll_fd(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;

	LIVE(self, c);
	return PyLong_FromLong(uvf_client_poll_fd(c));
}

static PyObject *client_process(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_process(c));
	if (ret < 0)
		return uvfpy_raise(ret, "process");
	return PyLong_FromLong(ret);
}

static PyObject *client_call(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"command", "payload", "fds", NULL};
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned command;
	Py_buffer payload = {0};
	PyObject *fdseq = NULL, *fast = NULL, *reply = NULL;
	int fds[16];
	size_t nfds = 0, reply_len = 0, cap;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "I|y*O:call", kwlist, &command, &payload, &fdseq))
		return NULL;
	if (command > 0xffff) {
		PyErr_SetString(PyExc_ValueError, "command is a 16-bit number");
		goto out;
	}
	if (fdseq) {
		Py_ssize_t i;

		fast = PySequence_Fast(fdseq, "fds must be a sequence");
		if (!fast)
			goto out;
		if (PySequence_Fast_GET_SIZE(fast) > 16) {
			PyErr_SetString(PyExc_ValueError, "at most 16 fds");
			goto out;
		}
		for (i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
			fds[i] = PyObject_AsFileDescriptor(PySequence_Fast_GET_ITEM(fast, i));
			if (fds[i] < 0)
				goto out;
		}
		nfds = (size_t)PySequence_Fast_GET_SIZE(fast);
	}
	/* a reply longer than this (-EMSGSIZE) is an error: its tail is lost */
	cap = (size_t)uvf_client_server_caps(c)->max_data_xfer_size + 4096;
	reply = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
	if (!reply)
		goto out;
	UNLOCKED(self, ret,
		 uvf_client_call(c, (uint16_t)command, payload.buf, payload.buf ? (size_t)payload.len : 0,
				 nfds ? fds : NULL, nfds, PyBytes_AS_STRING(reply), cap, &reply_len));
	if (ret < 0) {
		Py_CLEAR(reply);
		uvfpy_raise(ret, "call");
		goto out;
	}
	if (_PyBytes_Resize(&reply, (Py_ssize_t)reply_len) < 0)
		reply = NULL;
out:
	Py_XDECREF(fast);
	if (payload.obj)
		PyBuffer_Release(&payload);
	return reply;
}

/* ------------------------------------------------------------------ */
/* Migration                                                            */
/* ------------------------------------------------------------------ */

static PyObject *client_migration_features(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	uint64_t flags = 0;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_migration_features(c, &flags));
	if (ret < 0)
		return uvfpy_raise(ret, "migration_features");
	return PyLong_FromUnsignedLongLong(flags);
}

static PyObject *client_migration_state(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	uint32_t state = 0;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_migration_state(c, &state));
	if (ret < 0)
		return uvfpy_raise(ret, "migration_state");
	return PyLong_FromUnsignedLong(state);
}

static PyObject *client_set_migration_state(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned state;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "I:set_migration_state", &state))
		return NULL;
	UNLOCKED(self, ret, uvf_client_set_migration_state(c, state));
	return result(ret, "set_migration_state");
}

static PyObject *client_migration_data_read(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	Py_ssize_t len;
	size_t got = 0;
	PyObject *bytes;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "n:migration_data_read", &len))
		return NULL;
	if (len < 0) {
		PyErr_SetString(PyExc_ValueError, "negative length");
		return NULL;
	}
	bytes = PyBytes_FromStringAndSize(NULL, len);
	if (!bytes)
		return NULL;
	UNLOCKED(self, ret, uvf_client_migration_data_read(c, PyBytes_AS_STRING(bytes), (size_t)len, &got));
	if (ret < 0) {
		Py_DECREF(bytes);
		return uvfpy_raise(ret, "migration_data_read");
	}
	if (got > (size_t)len)
		got = (size_t)len;
	if (_PyBytes_Resize(&bytes, (Py_ssize_t)got) < 0)
		return NULL;
	return bytes;
}

static PyObject *client_migration_data_write(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	Py_buffer data;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "y*:migration_data_write", &data))
		return NULL;
	UNLOCKED(self, ret, uvf_client_migration_data_write(c, data.buf, (size_t)data.len));
	PyBuffer_Release(&data);
	return result(ret, "migration_data_write");
}

static PyObject *client_dma_logging_start(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned long long page_size;
	PyObject *seq = Py_None, *fast = NULL;
	struct uvf_msg_dma_logging_range *ranges = NULL;
	Py_ssize_t n = 0, i;
	uint64_t chosen = 0;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "K|O:dma_logging_start", &page_size, &seq))
		return NULL;
	if (seq != Py_None) {
		fast = PySequence_Fast(seq, "ranges must be a sequence of (iova, length)");
		if (!fast)
			return NULL;
		n = PySequence_Fast_GET_SIZE(fast);
		if (n > 65536) {
			Py_DECREF(fast);
			return uvfpy_raise(-EINVAL, "dma_logging_start");
		}
		ranges = PyMem_Calloc(n ? (size_t)n : 1, sizeof(*ranges));
		if (!ranges) {
			Py_DECREF(fast);
			return PyErr_NoMemory();
		}
		for (i = 0; i < n; i++) {
			unsigned long long iova, length;

			if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "KK", &iova, &length)) {
				PyMem_Free(ranges);
				Py_DECREF(fast);
				return NULL;
			}
			ranges[i].iova = iova;
			ranges[i].length = length;
		}
		Py_DECREF(fast);
	}
	UNLOCKED(self, ret, uvf_client_dma_logging_start(c, page_size, ranges, (uint32_t)n, &chosen));
	PyMem_Free(ranges);
	if (ret < 0)
		return uvfpy_raise(ret, "dma_logging_start");
	return PyLong_FromUnsignedLongLong(chosen);
}

static PyObject *client_dma_logging_stop(PyObject *o, PyObject *unused)
{
	uvfpy_client *self = (uvfpy_client *)o;
	int ret;

	LIVE(self, c);
	UNLOCKED(self, ret, uvf_client_dma_logging_stop(c));
	return result(ret, "dma_logging_stop");
}

static PyObject *client_dma_logging_report(PyObject *o, PyObject *args)
{
	uvfpy_client *self = (uvfpy_client *)o;
	unsigned long long iova, length, page_size;
	unsigned long long pages;
	size_t bytes_len;
	PyObject *bytes;
	int ret;

	LIVE(self, c);
	if (!PyArg_ParseTuple(args, "KKK:dma_logging_report", &iova, &length, &page_size))
		return NULL;
	if (page_size == 0 || (page_size & (page_size - 1)))
		return uvfpy_raise(-EINVAL, "dma_logging_report");
	pages = length / page_size + (length % page_size != 0);
	if (pages > (1ull << 32))
		return uvfpy_raise(-EINVAL, "dma_logging_report");
	bytes_len = (size_t)((pages + 63) / 64 * 8);
	bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bytes_len);
	if (!bytes)
		return NULL;
	memset(PyBytes_AS_STRING(bytes), 0, bytes_len);
	UNLOCKED(self, ret,
		 uvf_client_dma_logging_report(c, iova, length, page_size, (uint64_t *)PyBytes_AS_STRING(bytes),
					       bytes_len));
	if (ret < 0) {
		Py_DECREF(bytes);
		return uvfpy_raise(ret, "dma_logging_report");
	}
	return bytes;
}

#define M(name, flags, doc)                                                                                            \
	{                                                                                                              \
#name, (PyCFunction)(void (*)(void))client_##name, flags, doc                                          \
	}

static PyMethodDef client_methods[] = {
	M(close, METH_NOARGS, "Close the connection; refused while views of its memory are exported."),
	M(server_caps, METH_NOARGS, "What the server answered in VERSION, as a dict."),
	M(device_info, METH_NOARGS, "DEVICE_GET_INFO."),
	M(region_info, METH_VARARGS, "region_info(index): DEVICE_GET_REGION_INFO."),
	M(irq_info, METH_VARARGS, "irq_info(index): DEVICE_GET_IRQ_INFO."),
	M(region_read, METH_VARARGS, "region_read(region, offset, length) -> bytes."),
	M(region_read_into, METH_VARARGS, "region_read_into(region, offset, buffer)."),
	M(region_write, METH_VARARGS, "region_write(region, offset, data); waits for the reply."),
	M(config_read, METH_VARARGS, "config_read(offset, size) -> int, size 1, 2 or 4."),
	M(config_write, METH_VARARGS, "config_write(offset, size, value)."),
	M(region_map, METH_VARARGS, "region_map(index): set up loads/stores and ioeventfds."),
	M(region_unmap, METH_VARARGS, "region_unmap(index)."),
	M(region_view, METH_VARARGS, "region_view(index, offset, length) -> memoryview of a mapped area."),
	M(region_io_fds, METH_VARARGS, "region_io_fds(index) -> the ioeventfds fetched by region_map()."),
	M(access_read, METH_VARARGS, "access_read(region, offset, length): guest-style access."),
	M(access_write, METH_VARARGS, "access_write(region, offset, data): guest-style access."),
	M(write_posted, METH_VARARGS, "write_posted(region, offset, data): REGION_WRITE without reply."),
	M(cork, METH_VARARGS, "cork(corked): batch posted writes."),
	M(flush, METH_NOARGS, "Send queued posted writes and wait until they were processed."),
	M(dma_alloc, METH_VARARGS | METH_KEYWORDS, "dma_alloc(iova, size, prot) -> memoryview of shared memory."),
	M(dma_map_fd, METH_VARARGS | METH_KEYWORDS, "dma_map_fd(iova, size, prot, fd, offset=0)."),
	M(dma_register, METH_VARARGS | METH_KEYWORDS,
	  "dma_register(iova, buffer, prot): fd-less DMA served by messages; the buffer is held until unregistered."),
	M(dma_unregister, METH_VARARGS, "dma_unregister(iova, size)."),
	M(dma_unregister_all, METH_NOARGS, "DMA_UNMAP everything."),
	M(set_irq_eventfds, METH_VARARGS, "set_irq_eventfds(index, start, fds): -1 detaches a vector."),
	M(irq_disable, METH_VARARGS, "irq_disable(index)."),
	M(irq_mask, METH_VARARGS, "irq_mask(index, start, count, masked)."),
	M(irq_trigger, METH_VARARGS, "irq_trigger(index, start, count): the server fires vectors itself."),
	M(reset, METH_NOARGS, "DEVICE_RESET."),
	M(poll_fd, METH_NOARGS, "The fd to watch for the server's DMA requests."),
	M(process, METH_NOARGS, "Serve pending server requests; returns how many."),
	M(call, METH_VARARGS | METH_KEYWORDS, "call(command, payload=b'', fds=()) -> reply payload."),
	M(migration_features, METH_NOARGS, "DEVICE_FEATURE MIGRATION flags."),
	M(migration_state, METH_NOARGS, "The device's migration state."),
	M(set_migration_state, METH_VARARGS, "set_migration_state(state)."),
	M(migration_data_read, METH_VARARGS, "migration_data_read(length) -> bytes (shorter: end of data)."),
	M(migration_data_write, METH_VARARGS, "migration_data_write(data)."),
	M(dma_logging_start, METH_VARARGS, "dma_logging_start(page_size, ranges=None) -> chosen page size."),
	M(dma_logging_stop, METH_NOARGS, "Stop DMA dirty logging."),
	M(dma_logging_report, METH_VARARGS, "dma_logging_report(iova, length, page_size) -> bitmap bytes."),
	{NULL},
};

static PyGetSetDef client_getset[] = {
	{"closed", client_get_closed, NULL, "Whether close() was called", NULL},
	{NULL},
};

static PyTypeObject client_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvf._uvf.Client",
	.tp_basicsize = sizeof(uvfpy_client),
	.tp_new = client_new,
	.tp_init = client_init,
	.tp_dealloc = client_dealloc,
	.tp_methods = client_methods,
	.tp_getset = client_getset,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Client(path, *, timeout_ms=5000, max_data_xfer_size=1 MiB, max_msg_fds=8, poll_us=0, "
		  "no_posted_writes=False, no_twin_socket=False): a connection to a vfio-user server.",
};

int uvfpy_client_init(PyObject *module)
{
	if (PyStructSequence_InitType2(&device_info_type, &device_info_desc) < 0 ||
	    PyStructSequence_InitType2(&region_info_type, &region_info_desc) < 0 ||
	    PyStructSequence_InitType2(&irq_info_type, &irq_info_desc) < 0)
		return -1;
	if (PyType_Ready(&client_type) < 0)
		return -1;
	if (PyModule_AddObjectRef(module, "Client", (PyObject *)&client_type) < 0 ||
	    PyModule_AddObjectRef(module, "DeviceInfo", (PyObject *)&device_info_type) < 0 ||
	    PyModule_AddObjectRef(module, "RegionInfo", (PyObject *)&region_info_type) < 0 ||
	    PyModule_AddObjectRef(module, "IrqInfo", (PyObject *)&irq_info_type) < 0)
		return -1;
	return 0;
}
