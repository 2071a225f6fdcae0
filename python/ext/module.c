/* SPDX-License-Identifier: MIT */
/*
 * module.c - the uvf._uvf module: uvf.Error, the bridge from libuvf's log
 * callback to Python's logging module, and the constants of the headers.
 */
#include "uvfpy.h"

#include <errno.h>

PyObject *uvfpy_error;

PyObject *uvfpy_raise(int err, const char *what)
{
	PyObject *exc;

	if (err >= 0)
		err = -EIO;
	/* OSError(errno, strerror, filename): filename names the call */
	exc = PyObject_CallFunction(uvfpy_error, "isz", -err, uvf_strerror(err), what);
	if (exc) {
		PyErr_SetObject(uvfpy_error, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/*
 * getattr with an interned name: a name made afresh for each call would be
 * kept by the interpreter's attribute cache until its slot is reused, which
 * the leak tests see as growth.
 */
PyObject *uvfpy_getattr(PyObject *o, const char *name)
{
	PyObject *key = PyUnicode_InternFromString(name), *r;

	if (!key)
		return NULL;
	r = PyObject_GetAttr(o, key);
	Py_DECREF(key);
	return r;
}

/* o.name(*args) with args built by Py_BuildValue(fmt, ...) (a tuple). */
PyObject *uvfpy_call_method(PyObject *o, const char *name, const char *fmt, ...)
{
	PyObject *fn, *args, *r = NULL;
	va_list ap;

	fn = uvfpy_getattr(o, name);
	if (!fn)
		return NULL;
	va_start(ap, fmt);
	args = Py_VaBuildValue(fmt, ap);
	va_end(ap);
	if (args && !PyTuple_Check(args)) {
		PyObject *t = PyTuple_Pack(1, args);

		Py_DECREF(args);
		args = t;
	}
	if (args)
		r = PyObject_Call(fn, args, NULL);
	Py_XDECREF(args);
	Py_DECREF(fn);
	return r;
}

static int python_level(enum uvf_log_level level)
{
	switch (level) {
	case UVF_LOG_ERROR:
		return 40;
	case UVF_LOG_WARNING:
		return 30;
	case UVF_LOG_INFO:
		return 20;
	default:
		return 10;
	}
}

static PyObject *get_logger(const char *name)
{
	PyObject *logging, *logger;

	logging = PyImport_ImportModule("logging");
	if (!logging)
		return NULL;
	logger = uvfpy_call_method(logging, "getLogger", "(s)", name);
	Py_DECREF(logging);
	return logger;
}

void uvfpy_log(void *data, enum uvf_log_level level, const char *line)
{
	const char *name = data ? data : "uvf";
	PyGILState_STATE gil;
	PyObject *type, *value, *tb, *logger, *r;

	/* a device thread may outlive the interpreter */
	if (!Py_IsInitialized() || _Py_IsFinalizing()) {
		fprintf(stderr, "%s: %s\n", name, line);
		return;
	}
	gil = PyGILState_Ensure();
	PyErr_Fetch(&type, &value, &tb);
	logger = get_logger(name);
	if (logger) {
		r = uvfpy_call_method(logger, "log", "(is)", python_level(level), line);
		Py_XDECREF(r);
		Py_DECREF(logger);
	}
	if (PyErr_Occurred()) {
		PyErr_Clear();
		fprintf(stderr, "%s: %s\n", name, line);
	}
	PyErr_Restore(type, value, tb);
	PyGILState_Release(gil);
}

enum uvf_log_level uvfpy_log_level(const char *name)
{
	static const enum uvf_log_level levels[] = {UVF_LOG_DEBUG, UVF_LOG_INFO, UVF_LOG_WARNING};
	enum uvf_log_level result = UVF_LOG_ERROR;
	PyObject *logger, *r;
	size_t i;

	logger = get_logger(name);
	if (!logger) {
		PyErr_Clear();
		return UVF_LOG_WARNING;
	}
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		r = uvfpy_call_method(logger, "isEnabledFor", "(i)", python_level(levels[i]));
		if (!r) {
			PyErr_Clear();
			continue;
		}
		if (PyObject_IsTrue(r)) {
			Py_DECREF(r);
			result = levels[i];
			break;
		}
		Py_DECREF(r);
	}
	Py_DECREF(logger);
	return result;
}

static void log_traceback(struct uvf_device *dev, PyObject *value)
{
	PyObject *tbmod, *lines = NULL, *text = NULL;
	const char *s, *end;

	tbmod = PyImport_ImportModule("traceback");
	if (tbmod) {
		lines = uvfpy_call_method(tbmod, "format_exception", "(O)", value);
		Py_DECREF(tbmod);
	}
	if (lines) {
		PyObject *empty = PyUnicode_FromString("");

		if (empty) {
			text = PyUnicode_Join(empty, lines);
			Py_DECREF(empty);
		}
		Py_DECREF(lines);
	}
	s = text ? PyUnicode_AsUTF8(text) : NULL;
	if (!s) {
		PyErr_Clear();
		uvf_device_log(dev, UVF_LOG_ERROR, "(the traceback could not be formatted)");
		Py_XDECREF(text);
		return;
	}
	/* one log line per traceback line */
	while (*s) {
		end = strchr(s, '\n');
		if (!end)
			end = s + strlen(s);
		if (end > s)
			uvf_device_log(dev, UVF_LOG_ERROR, "  %.*s", (int)(end - s), s);
		s = *end ? end + 1 : end;
	}
	Py_DECREF(text);
}

int uvfpy_report_exception(struct uvf_device *dev, const char *where)
{
	PyObject *type, *value, *tb, *err;
	int ret = -EIO;

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (!value)
		return ret;
	if (tb)
		PyException_SetTraceback(value, tb);
	if (PyObject_IsInstance(value, PyExc_OSError) == 1) {
		err = uvfpy_getattr(value, "errno");
		if (err && PyLong_Check(err)) {
			long e = PyLong_AsLong(err);

			if (e > 0 && e < 4096)
				ret = (int)-e;
		}
		Py_XDECREF(err);
		PyErr_Clear();
	}
	uvf_device_log(dev, UVF_LOG_ERROR, "%s raised an exception, the client gets %s:", where, uvf_strerror(ret));
	log_traceback(dev, value);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Memory                                                               */
/* ------------------------------------------------------------------ */

static int memory_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
	uvfpy_memory *m = (uvfpy_memory *)self;

	if (!m->ptr) {
		PyErr_SetString(PyExc_ValueError, "this memory was unmapped");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, self, m->ptr, m->len, m->readonly, flags) < 0)
		return -1;
	m->exports++;
	return 0;
}

static void memory_releasebuffer(PyObject *self, Py_buffer *view)
{
	((uvfpy_memory *)self)->exports--;
}

static PyBufferProcs memory_as_buffer = {
	.bf_getbuffer = memory_getbuffer,
	.bf_releasebuffer = memory_releasebuffer,
};

static void memory_dealloc(PyObject *self)
{
	uvfpy_memory *m = (uvfpy_memory *)self;

	if (m->weakrefs)
		PyObject_ClearWeakRefs(self);
	Py_XDECREF(m->owner);
	Py_TYPE(self)->tp_free(self);
}

static Py_ssize_t memory_length(PyObject *self)
{
	return ((uvfpy_memory *)self)->ptr ? ((uvfpy_memory *)self)->len : 0;
}

static PySequenceMethods memory_as_sequence = {
	.sq_length = memory_length,
};

static PyObject *memory_get_valid(PyObject *self, void *closure)
{
	return PyBool_FromLong(((uvfpy_memory *)self)->ptr != NULL);
}

static PyGetSetDef memory_getset[] = {
	{"valid", memory_get_valid, NULL, "False once the memory was unmapped", NULL},
	{NULL},
};

PyTypeObject uvfpy_memory_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvf._uvf.Memory",
	.tp_basicsize = sizeof(uvfpy_memory),
	.tp_weaklistoffset = offsetof(uvfpy_memory, weakrefs),
	.tp_dealloc = memory_dealloc,
	.tp_as_buffer = &memory_as_buffer,
	.tp_as_sequence = &memory_as_sequence,
	.tp_getset = memory_getset,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Memory lent by a client or device; use it through memoryview().",
};

uvfpy_memory *uvfpy_memory_new(PyObject *owner, PyObject *list, void *ptr, size_t len, bool readonly, int tag_kind,
			       uint64_t tag)
{
	uvfpy_memory *m;
	PyObject *ref;

	if (len > PY_SSIZE_T_MAX) {
		PyErr_SetString(PyExc_OverflowError, "memory too large");
		return NULL;
	}
	m = PyObject_New(uvfpy_memory, &uvfpy_memory_type);
	if (!m)
		return NULL;
	m->weakrefs = NULL;
	Py_INCREF(owner);
	m->owner = owner;
	m->ptr = ptr;
	m->len = (Py_ssize_t)len;
	m->readonly = readonly;
	m->tag_kind = tag_kind;
	m->tag = tag;
	m->exports = 0;
	/* the owner lists its Memory objects by weak reference: a Memory
	 * keeps its owner alive, not the other way round */
	uvfpy_memory_revoke(list, -1, 0);
	ref = PyWeakref_NewRef((PyObject *)m, NULL);
	if (!ref || PyList_Append(list, ref) < 0) {
		Py_XDECREF(ref);
		Py_DECREF(m);
		return NULL;
	}
	Py_DECREF(ref);
	return m;
}

/* The Memory of list item i, or NULL once it is gone (borrowed). */
static uvfpy_memory *item(PyObject *list, Py_ssize_t i)
{
	PyObject *o = PyWeakref_GET_OBJECT(PyList_GET_ITEM(list, i));

	return o == Py_None ? NULL : (uvfpy_memory *)o;
}

static bool matches(uvfpy_memory *m, int tag_kind, uint64_t tag)
{
	return tag_kind == 0 || (m->tag_kind == tag_kind && m->tag == tag);
}

static bool overlaps(uvfpy_memory *m, const void *ptr, size_t len)
{
	const char *p = ptr;

	return m->ptr && m->ptr < p + len && p < m->ptr + m->len;
}

bool uvfpy_memory_busy(PyObject *list, int tag_kind, uint64_t tag)
{
	Py_ssize_t i;

	for (i = 0; i < PyList_GET_SIZE(list); i++) {
		uvfpy_memory *m = item(list, i);

		if (m && m->ptr && matches(m, tag_kind, tag) && m->exports > 0)
			return true;
	}
	return false;
}

bool uvfpy_memory_busy_range(PyObject *list, const void *ptr, size_t len)
{
	Py_ssize_t i;

	for (i = 0; i < PyList_GET_SIZE(list); i++) {
		uvfpy_memory *m = item(list, i);

		if (m && overlaps(m, ptr, len) && m->exports > 0)
			return true;
	}
	return false;
}

static void revoke_if(PyObject *list, int tag_kind, uint64_t tag, const void *ptr, size_t len, bool by_range)
{
	Py_ssize_t i = 0;

	while (i < PyList_GET_SIZE(list)) {
		uvfpy_memory *m = item(list, i);
		bool hit = m && (by_range ? overlaps(m, ptr, len) : matches(m, tag_kind, tag));

		/* entries of Memory objects already gone are dropped too */
		if (hit || !m || !m->ptr) {
			if (m)
				m->ptr = NULL;
			if (PySequence_DelItem(list, i) < 0) {
				PyErr_Clear();
				i++;
			}
			continue;
		}
		i++;
	}
}

void uvfpy_memory_revoke(PyObject *list, int tag_kind, uint64_t tag)
{
	revoke_if(list, tag_kind, tag, NULL, 0, false);
}

void uvfpy_memory_revoke_range(PyObject *list, const void *ptr, size_t len)
{
	revoke_if(list, 0, 0, ptr, len, true);
}

/* ------------------------------------------------------------------ */
/* Module                                                               */
/* ------------------------------------------------------------------ */

static PyObject *mod_version(PyObject *self, PyObject *unused)
{
	return PyUnicode_FromString(uvf_version());
}

static PyObject *mod_strerror(PyObject *self, PyObject *arg)
{
	long err = PyLong_AsLong(arg);

	if (err == -1 && PyErr_Occurred())
		return NULL;
	if (err > 0)
		err = -err;
	if (err < -100000)
		err = -100000;
	return PyUnicode_FromString(uvf_strerror((int)err));
}

static PyMethodDef module_methods[] = {
	{"version", mod_version, METH_NOARGS, "The libuvf version string."},
	{"strerror", mod_strerror, METH_O, "libuvf's description of an errno (positive or negative)."},
	{NULL},
};

static struct PyModuleDef uvf_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "uvf._uvf",
	.m_doc = "The C core of the uvf package: libuvf's client and server.",
	.m_size = -1,
	.m_methods = module_methods,
};

#define CONSTANT(name, value)                                                                                          \
	do {                                                                                                           \
		if (PyModule_AddIntConstant(m, name, (long)(value)) < 0)                                               \
			goto fail;                                                                                     \
	} while (0)

PyMODINIT_FUNC PyInit__uvf(void);

PyMODINIT_FUNC PyInit__uvf(void)
{
	PyObject *m;

	m = PyModule_Create(&uvf_module);
	if (!m)
		return NULL;
	uvfpy_error = PyErr_NewExceptionWithDoc("uvf.Error",
						"A libuvf call failed: errno and strerror as for OSError, "
						"filename names the call.",
						PyExc_OSError, NULL);
	if (!uvfpy_error || PyModule_AddObjectRef(m, "Error", uvfpy_error) < 0)
		goto fail;
	if (PyType_Ready(&uvfpy_memory_type) < 0 ||
	    PyModule_AddObjectRef(m, "Memory", (PyObject *)&uvfpy_memory_type) < 0)
		goto fail;
	if (uvfpy_client_init(m) < 0 || uvfpy_device_init(m) < 0)
		goto fail;

	CONSTANT("INTX_IRQ", UVF_PCI_INTX_IRQ);
	CONSTANT("MSI_IRQ", UVF_PCI_MSI_IRQ);
	CONSTANT("MSIX_IRQ", UVF_PCI_MSIX_IRQ);
	CONSTANT("ERR_IRQ", UVF_PCI_ERR_IRQ);
	CONSTANT("REQ_IRQ", UVF_PCI_REQ_IRQ);
	CONSTANT("ROM_REGION", UVF_PCI_ROM_REGION);
	CONSTANT("CONFIG_REGION", UVF_PCI_CONFIG_REGION);
	CONSTANT("DMA_READ", UVF_DMA_MAP_FLAG_READ);
	CONSTANT("DMA_WRITE", UVF_DMA_MAP_FLAG_WRITE);
	CONSTANT("REGION_READ", UVF_REGION_FLAG_READ);
	CONSTANT("REGION_WRITE", UVF_REGION_FLAG_WRITE);
	CONSTANT("REGION_MMAP", UVF_REGION_FLAG_MMAP);
	CONSTANT("DEVICE_RESET", UVF_DEVICE_FLAG_RESET);
	CONSTANT("DEVICE_PCI", UVF_DEVICE_FLAG_PCI);
	CONSTANT("BAR_IO", UVF_BAR_IO);
	CONSTANT("BAR_64BIT", UVF_BAR_64BIT);
	CONSTANT("BAR_PREFETCH", UVF_BAR_PREFETCH);
	CONSTANT("BAR_MEMORY", UVF_BAR_MEMORY);
	CONSTANT("BAR_MMAP", UVF_BAR_MMAP);
	CONSTANT("BAR_ACCESS_CALLBACKS", UVF_BAR_ACCESS_CALLBACKS);
	CONSTANT("PM_NO_SOFT_RESET", UVF_PM_NO_SOFT_RESET);
	CONSTANT("MSI_32BIT", UVF_MSI_32BIT);
	CONSTANT("MSI_NO_MASK", UVF_MSI_NO_MASK);
	CONSTANT("PCIE_TYPE_ENDPOINT", UVF_PCIE_TYPE_ENDPOINT);
	CONSTANT("PCIE_TYPE_RC_ENDPOINT", UVF_PCIE_TYPE_RC_ENDPOINT);
	CONSTANT("RESET_CLIENT", UVF_RESET_CLIENT);
	CONSTANT("RESET_FLR", UVF_RESET_FLR);
	CONSTANT("RESET_PM", UVF_RESET_PM);
	CONSTANT("MIGRATION_STOP_COPY", UVF_MIGRATION_STOP_COPY);
	CONSTANT("MIGRATION_PRE_COPY", UVF_MIGRATION_PRE_COPY);
	CONSTANT("STATE_ERROR", UVF_MIGRATION_STATE_ERROR);
	CONSTANT("STATE_STOP", UVF_MIGRATION_STATE_STOP);
	CONSTANT("STATE_RUNNING", UVF_MIGRATION_STATE_RUNNING);
	CONSTANT("STATE_STOP_COPY", UVF_MIGRATION_STATE_STOP_COPY);
	CONSTANT("STATE_RESUMING", UVF_MIGRATION_STATE_RESUMING);
	CONSTANT("STATE_RUNNING_P2P", UVF_MIGRATION_STATE_RUNNING_P2P);
	CONSTANT("STATE_PRE_COPY", UVF_MIGRATION_STATE_PRE_COPY);
	CONSTANT("STATE_PRE_COPY_P2P", UVF_MIGRATION_STATE_PRE_COPY_P2P);
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
