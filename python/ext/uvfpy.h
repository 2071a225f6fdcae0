/* SPDX-License-Identifier: MIT */
/*
 * uvfpy.h - what the files of the uvf._uvf extension module share: the
 * exception type, the log bridge to Python's logging module, and the
 * Memory object that lends library-owned memory to Python as a buffer.
 *
 * Locking rule of the whole module: every call into libuvf that may wait
 * or take a library lock is made with the GIL released, and every
 * callback from libuvf takes the GIL with PyGILState_Ensure(). So no
 * thread ever holds a library lock while waiting for the GIL and the GIL
 * while waiting for a library lock at once.
 */
#ifndef UVFPY_H
#define UVFPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>

#include "uvf/client.h"
#include "uvf/server.h"

/* Run stmt with the GIL released: Py_BEGIN/END_ALLOW_THREADS in one
 * statement. */
#define UVFPY_UNLOCKED(stmt)                                                                                           \
	do {                                                                                                           \
		PyThreadState *uvfpy_ts_ = PyEval_SaveThread();                                                        \
		stmt;                                                                                                  \
		PyEval_RestoreThread(uvfpy_ts_);                                                                       \
	} while (0)

/* uvf.Error, a subclass of OSError: errno and strerror (uvf_strerror). */
extern PyObject *uvfpy_error;

/* Set uvf.Error for the negative errno err, the message naming `what`;
 * returns NULL for "return uvfpy_raise(...)". */
PyObject *uvfpy_raise(int err, const char *what);

/* getattr and method calls with interned names (module.c says why). */
PyObject *uvfpy_getattr(PyObject *o, const char *name);
PyObject *uvfpy_call_method(PyObject *o, const char *name, const char *fmt, ...);

/* Forward a libuvf log line to logging.getLogger(name) (a uvf_log_fn
 * whose data is the logger name, a static string). Any thread. */
void uvfpy_log(void *data, enum uvf_log_level level, const char *line);

/* The most verbose uvf level the named Python logger lets through now. */
enum uvf_log_level uvfpy_log_level(const char *name);

/* Report the Python exception set now (with its traceback) through the
 * device's log, clear it, and return the negative errno the peer gets:
 * the exception's errno for an OSError carrying one, else -EIO. GIL held. */
int uvfpy_report_exception(struct uvf_device *dev, const char *where);

/*
 * uvf._uvf.Memory: a buffer over memory owned by someone else (a client's
 * mapping or DMA buffer, a device's BAR memory or DMA view). It keeps its
 * owner alive and counts the buffers exported from it, so the owner can
 * refuse to unmap memory that Python still sees (BufferError) and revoke
 * it once nobody does (later exports then fail with ValueError).
 */
typedef struct {
	PyObject ob_base; /* PyObject_HEAD */
	PyObject *owner;  /* strong reference */
	char *ptr;	  /* NULL once revoked */
	Py_ssize_t len;
	bool readonly;
	uint64_t tag; /* the owner's key: region index, iova, ... */
	int tag_kind; /* the owner's kind of key */
	Py_ssize_t exports;
	PyObject *weakrefs;
} uvfpy_memory;

extern PyTypeObject uvfpy_memory_type;

/* A new Memory, appended to the owner's list (a Python list). */
uvfpy_memory *uvfpy_memory_new(PyObject *owner, PyObject *list, void *ptr, size_t len, bool readonly, int tag_kind,
			       uint64_t tag);

/* Whether a Memory of the list matching (tag_kind, tag) - or any when
 * tag_kind is 0 - still has buffers exported. */
bool uvfpy_memory_busy(PyObject *list, int tag_kind, uint64_t tag);

/* Whether a Memory of the list overlapping [ptr, ptr + len) is exported. */
bool uvfpy_memory_busy_range(PyObject *list, const void *ptr, size_t len);

/* Revoke and drop the matching Memory objects (tag_kind 0: all; a kind
 * no Memory has: only drop the entries of those already gone). */
void uvfpy_memory_revoke(PyObject *list, int tag_kind, uint64_t tag);

/* Revoke and drop those overlapping [ptr, ptr + len). */
void uvfpy_memory_revoke_range(PyObject *list, const void *ptr, size_t len);

int uvfpy_client_init(PyObject *module);
int uvfpy_device_init(PyObject *module);

#endif /* UVFPY_H */
