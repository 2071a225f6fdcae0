/* SPDX-License-Identifier: MIT */
/*
 * device.h - what the files of uvf._uvf.Device share (device.c: the type,
 * description and serving; device_callbacks.c: the library's callbacks
 * into Python; device_dma.c: DMA from Python).
 */
#ifndef UVFPY_DEVICE_H
#define UVFPY_DEVICE_H

#include "uvfpy.h"

enum { VIEW_BAR = 1, VIEW_DMA = 2 };

#define NBARS  6
#define MAX_SG 256

typedef struct uvfpy_device uvfpy_device;

struct bar_ctx {
	uvfpy_device *self;
	unsigned index;
};

struct uvfpy_device {
	PyObject ob_base; /* PyObject_HEAD */
	struct uvf_device *dev;
	PyObject *bar_read[NBARS];
	PyObject *bar_write[NBARS];
	struct bar_ctx bars[NBARS];
	PyObject *keep;	 /* list: ioeventfd callables, kept alive while the device is */
	PyObject *views; /* list of Memory: BAR memory, DMA views */
	int active;	 /* calls running with the GIL released */
	bool dying;	 /* in dealloc: callbacks no longer call into Python */
};

static inline struct uvf_device *uvfpy_device_live(uvfpy_device *self)
{
	if (!self->dev)
		PyErr_SetString(PyExc_ValueError, "the device is closed");
	return self->dev;
}

#define LIVE(self, d)                                                                                                  \
	struct uvf_device *d = uvfpy_device_live(self);                                                                \
	if (!d)                                                                                                        \
	return NULL

#define UNLOCKED(self, ret, expr)                                                                                      \
	do {                                                                                                           \
		(self)->active++;                                                                                      \
		UVFPY_UNLOCKED((ret) = (expr));                                                                        \
		(self)->active--;                                                                                      \
	} while (0)

static inline PyObject *result(int ret, const char *what)
{
	if (ret < 0)
		return uvfpy_raise(ret, what);
	Py_RETURN_NONE;
}

/* device_callbacks.c: trampolines from libuvf into Python. */
int uvfpy_bar_read_cb(struct uvf_device *dev, void *data, uint64_t offset, void *buf, size_t len);
int uvfpy_bar_write_cb(struct uvf_device *dev, void *data, uint64_t offset, const void *buf, size_t len);
void uvfpy_ioeventfd_cb(struct uvf_device *dev, void *data, uint64_t count);
/* Fill the callback tables with the trampolines calling the on_* methods. */
void uvfpy_device_callbacks(struct uvf_device_callbacks *cb);
void uvfpy_migration_callbacks(struct uvf_migration_callbacks *cb);
/* Python may be gone (a device thread at exit). */
bool uvfpy_python_usable(void);

/* device_dma.c: the DMA methods of Device. */
PyObject *uvfpy_device_dma_read(PyObject *o, PyObject *args);
PyObject *uvfpy_device_dma_write(PyObject *o, PyObject *args);
PyObject *uvfpy_device_dma_read_async(PyObject *o, PyObject *args);
PyObject *uvfpy_device_dma_write_async(PyObject *o, PyObject *args);
PyObject *uvfpy_device_dma_view(PyObject *o, PyObject *args);
PyObject *uvfpy_device_dma_sg(PyObject *o, PyObject *args);
PyObject *uvfpy_device_dma_mark_dirty(PyObject *o, PyObject *args);

#endif /* UVFPY_DEVICE_H */
