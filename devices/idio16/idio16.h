/* SPDX-License-Identifier: MIT */
/*
 * idio16: a model of the ACCES PCI-IDIO-16 isolated digital I/O card, close
 * enough that Linux's gpio-pci-idio-16 driver binds to it and works. Used
 * in-process by the integration tests and as the uvf-idio16 program.
 *
 * PCI identity: vendor 0x494f (ACCES I/O Products), device 0x0dc8,
 * subsystem 0x494f:0x0dc8, class 0xff0000, revision 0. Interrupts: INTx
 * (pin A) only. No capabilities.
 *
 * BAR2: 8 bytes of I/O ports (the driver maps BAR 2 only; BARs 0, 1 and
 * 3-5 are absent). Byte registers; a wider access acts as one byte access
 * per byte, in ascending order.
 *
 *   port  read                           write
 *   0     outputs 0-7                    outputs 0-7
 *   1     inputs 0-7                     clear interrupt (any value)
 *   2     enable IRQ (reads 0xff)        disable IRQ (any value)
 *   3     activate all input filters     deactivate all input filters
 *         (reads 0xff)
 *   4     outputs 8-15                   outputs 8-15
 *   5     inputs 8-15                    ignored
 *   6     interrupt status               ignored
 *   7     filter status 0-7              filter control 0-7
 *
 * Interrupt status (port 6): bit 0 = a change of state of inputs 0-7 was
 * latched, bit 1 = of inputs 8-15, bit 2 = an interrupt is pending (set
 * with either). Linux's driver checks bit 2 (and older drivers bits 0-1
 * too). While IRQs are enabled, any change of an input latches these bits
 * and raises INTx; a write to port 1 clears them. Changes while IRQs are
 * disabled are not latched. Disabling IRQs keeps what is latched.
 *
 * Filters have no effect on the model's noise-free inputs; their state is
 * kept and reads back (port 7: 0xff while all are active).
 *
 * DEVICE_RESET restores the power-on state: outputs off, IRQs disabled,
 * nothing latched, filters off. The inputs are wires from outside and keep
 * their level. A client disconnect is not a reset.
 *
 * Live migration (always on; PRE_COPY offered and empty, the state goes in
 * STOP_COPY): envelope of devices/common/devmig.h, tag "ID16", version 1,
 * payload u16 outputs, u16 inputs, u8 IRQs enabled, u8 interrupt status,
 * u8 all filters active, u8 filters 0-7, u8 change of state waiting to
 * interrupt, u32 interrupts raised. Refused with -EINVAL when truncated,
 * corrupted, of another device or version, or with an impossible status.
 * While stopped the model raises no interrupt (input changes latch and
 * wait); on resume the INTx level is driven again from the registers, so
 * an interrupt pending at the source is asserted at the destination.
 * The output listener hears the outputs a loaded stream sets. The inputs
 * travel too: the destination's wiring should then drive them again.
 */
#ifndef UVF_DEVICES_IDIO16_H
#define UVF_DEVICES_IDIO16_H

#include <stdbool.h>
#include <stdint.h>

#include "uvf/server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IDIO16_VENDOR_ID 0x494f
#define IDIO16_DEVICE_ID 0x0dc8
#define IDIO16_CLASS	 0xff0000u
#define IDIO16_BAR	 2u /* the BAR index the Linux driver maps */
#define IDIO16_BAR_SIZE	 8u

enum idio16_port {
	IDIO16_PORT_OUT_LOW = 0,    /* R/W outputs 0-7 */
	IDIO16_PORT_IN_LOW = 1,	    /* R inputs 0-7, W clear interrupt */
	IDIO16_PORT_IRQ_CTL = 2,    /* R enable IRQ, W disable IRQ */
	IDIO16_PORT_FILTER = 3,	    /* R activate filters, W deactivate filters */
	IDIO16_PORT_OUT_HIGH = 4,   /* R/W outputs 8-15 */
	IDIO16_PORT_IN_HIGH = 5,    /* R inputs 8-15 */
	IDIO16_PORT_IRQ_STATUS = 6, /* R interrupt status */
	IDIO16_PORT_FILTER_LOW = 7, /* R/W filters 0-7 */
};

#define IDIO16_STATUS_COS_LOW  0x01u /* inputs 0-7 changed */
#define IDIO16_STATUS_COS_HIGH 0x02u /* inputs 8-15 changed */
#define IDIO16_STATUS_PENDING  0x04u /* interrupt pending */

struct idio16;

/* The register state, for tests and logs. */
struct idio16_state {
	uint16_t outputs;
	uint16_t inputs;
	bool irq_enabled;
	uint8_t irq_status;  /* IDIO16_STATUS_* latched */
	bool filters_all;    /* all filters active (port 3 read) */
	uint8_t filter_low;  /* filters 0-7 chosen through port 7 */
	uint32_t irq_raised; /* INTx raised (delivered or latched) since creation */
};

/* Called on the device thread when the outputs change (register write or
 * reset), after the model's lock was released. */
typedef void (*idio16_output_fn)(void *data, uint16_t old_outputs, uint16_t outputs);

/*
 * Create the model and its device: described (ids, BAR2, INTx, reset
 * callback) but not listening; go on with uvf_device_listen() or
 * uvf_device_listen_fd() on idio16_device(), then serve with idio16_run().
 * The device's user data pointer stays free for the caller. Returns 0 or a
 * negative errno.
 */
int idio16_create(struct idio16 **out);

/* Free the device (which removes its socket file) and the model. NULL is
 * fine. Call after idio16_run() returned. */
void idio16_free(struct idio16 *s);

/* The device, owned by s. */
struct uvf_device *idio16_device(struct idio16 *s);

/* Install the output listener (fn NULL removes it). Call before serving. */
void idio16_set_output_listener(struct idio16 *s, idio16_output_fn fn, void *data);

/*
 * Drive the 16 inputs to `value` (bit n = input n energised). Callable from
 * any thread: registers read the new value at once, and the interrupt a
 * change of state causes is raised by the thread in idio16_run() (or
 * idio16_process()) shortly after.
 */
void idio16_set_inputs(struct idio16 *s, uint16_t value);

/* Snapshot of the registers, from any thread. */
void idio16_get_state(struct idio16 *s, struct idio16_state *out);

/* Readable when idio16_process() has work; owned by s. For callers that run
 * their own loop around uvf_device_dispatch() instead of idio16_run(). */
int idio16_event_fd(struct idio16 *s);

/* On the device thread: raise the interrupts idio16_set_inputs() asked for. */
void idio16_process(struct idio16 *s);

/* Called by idio16_run() when watch_fd is readable (or hung up). Return
 * false to stop watching it. */
typedef bool (*idio16_watch_fn)(void *data);

/*
 * Serve the device like uvf_device_run(), and also process input changes;
 * when watch_fd >= 0, call on_watch(data) whenever it is readable. Returns
 * 0 after uvf_device_stop(), or a negative errno on a fatal error.
 */
int idio16_run(struct idio16 *s, int watch_fd, idio16_watch_fn on_watch, void *data);

#ifdef __cplusplus
}
#endif

#endif /* UVF_DEVICES_IDIO16_H */
