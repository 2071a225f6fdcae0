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

#define UVF_IDIO16_VENDOR_ID 0x494f
#define UVF_IDIO16_DEVICE_ID 0x0dc8
#define UVF_IDIO16_CLASS     0xff0000u
#define UVF_IDIO16_BAR	     2u /* the BAR index the Linux driver maps */
#define UVF_IDIO16_BAR_SIZE  8u

enum uvf_idio16_port {
	UVF_IDIO16_PORT_OUT_LOW = 0,	/* R/W outputs 0-7 */
	UVF_IDIO16_PORT_IN_LOW = 1,	/* R inputs 0-7, W clear interrupt */
	UVF_IDIO16_PORT_IRQ_CTL = 2,	/* R enable IRQ, W disable IRQ */
	UVF_IDIO16_PORT_FILTER = 3,	/* R activate filters, W deactivate filters */
	UVF_IDIO16_PORT_OUT_HIGH = 4,	/* R/W outputs 8-15 */
	UVF_IDIO16_PORT_IN_HIGH = 5,	/* R inputs 8-15 */
	UVF_IDIO16_PORT_IRQ_STATUS = 6, /* R interrupt status */
	UVF_IDIO16_PORT_FILTER_LOW = 7, /* R/W filters 0-7 */
};

#define UVF_IDIO16_STATUS_COS_LOW  0x01u /* inputs 0-7 changed */
#define UVF_IDIO16_STATUS_COS_HIGH 0x02u /* inputs 8-15 changed */
#define UVF_IDIO16_STATUS_PENDING  0x04u /* interrupt pending */

struct uvf_idio16;

/* The register state, for tests and logs. */
struct uvf_idio16_state {
	uint16_t outputs;
	uint16_t inputs;
	bool irq_enabled;
	uint8_t irq_status;  /* UVF_IDIO16_STATUS_* latched */
	bool filters_all;    /* all filters active (port 3 read) */
	uint8_t filter_low;  /* filters 0-7 chosen through port 7 */
	uint32_t irq_raised; /* INTx raised (delivered or latched) since creation */
};

/* Called on the device thread when the outputs change (register write or
 * reset), after the model's lock was released. */
typedef void (*uvf_idio16_output_fn)(void *data, uint16_t old_outputs, uint16_t outputs);

/*
 * The shape of every uvf device model (devices/): uvf_<model>_create()
 * makes the model and its device, described (here ids, BAR2, INTx,
 * callbacks) but not listening; go on with uvf_device_listen() or
 * uvf_device_listen_fd() on uvf_<model>_device(), then serve it (here
 * with uvf_idio16_run()). The device owns the model: uvf_<model>_destroy(),
 * or uvf_device_free() on its device, frees both (and removes the socket
 * file); NULL is fine. Destroy after serving stopped. The device's user
 * data pointer stays free for the caller. create returns 0 or a negative
 * errno.
 */
int uvf_idio16_create(struct uvf_idio16 **out);
struct uvf_device *uvf_idio16_device(struct uvf_idio16 *s);
void uvf_idio16_destroy(struct uvf_idio16 *s);

/* Install the output listener (fn NULL removes it). Call before serving. */
void uvf_idio16_set_output_listener(struct uvf_idio16 *s, uvf_idio16_output_fn fn, void *data);

/*
 * Drive the 16 inputs to `value` (bit n = input n energised). Callable from
 * any thread: registers read the new value at once, and the interrupt a
 * change of state causes is raised by the thread in uvf_idio16_run() (or
 * uvf_idio16_process()) shortly after.
 */
void uvf_idio16_set_inputs(struct uvf_idio16 *s, uint16_t value);

/* Snapshot of the registers, from any thread. */
void uvf_idio16_get_state(struct uvf_idio16 *s, struct uvf_idio16_state *out);

/* Readable when uvf_idio16_process() has work; owned by s. For callers that run
 * their own loop around uvf_device_dispatch() instead of uvf_idio16_run(). */
int uvf_idio16_event_fd(struct uvf_idio16 *s);

/* On the device thread: raise the interrupts uvf_idio16_set_inputs() asked for. */
void uvf_idio16_process(struct uvf_idio16 *s);

/* Called by uvf_idio16_run() when watch_fd is readable (or hung up). Return
 * false to stop watching it. */
typedef bool (*uvf_idio16_watch_fn)(void *data);

/*
 * Serve the device like uvf_device_run(), and also process input changes;
 * when watch_fd >= 0, call on_watch(data) whenever it is readable. Returns
 * 0 after uvf_device_stop(), or a negative errno on a fatal error.
 */
int uvf_idio16_run(struct uvf_idio16 *s, int watch_fd, uvf_idio16_watch_fn on_watch, void *data);

#ifdef __cplusplus
}
#endif

#endif /* UVF_DEVICES_IDIO16_H */
