/*
 * test_mmio_irq.c - the register model's interrupt line under threads:
 * a device's queue thread raising interrupts while a vCPU thread reads
 * InterruptStatus and acks what it read (run under TSan too).
 *
 * The promise (vio/transport/mmio.h, vio_mmio_irq_fn): the VMM's irq
 * callback may be called from both threads at once, and once both stop,
 * the last level it was given matches InterruptStatus: never a line left
 * low with a bit pending (a lost interrupt), never high with none.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vio/core.h"
#include "vio/transport/mmio.h"

#define ROUNDS 200
#define RAISES 2000

struct fx {
	struct vio_dev_model d;
	struct vio_dev_ops ops;
	struct vio_mmio_dev m;
	pthread_mutex_t lock;           /* the VMM serialises inside irq */
	bool level;
	unsigned long calls;
	int stop;                       /* atomic */
};

static void t_notify(struct vio_dev_model *d, unsigned qi)
{
	(void)d;
	(void)qi;
}

static void t_irq(void *opaque, bool level)
{
	struct fx *fx = opaque;

	pthread_mutex_lock(&fx->lock);
	fx->level = level;
	fx->calls++;
	pthread_mutex_unlock(&fx->lock);
}

/* The device: used-buffer and config interrupts, as queue processing and
 * vio_dev_needs_reset() raise them. */
static void *raiser(void *arg)
{
	struct fx *fx = arg;

	for (unsigned i = 0; i < RAISES; i++) {
		if (i % 3)
			fx->d.transport->interrupt(fx->d.transport_opaque, 0);
		else
			fx->d.transport->config_interrupt(fx->d.transport_opaque);
	}
	__atomic_store_n(&fx->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The guest's interrupt handler: read, ack what was read. */
static void *acker(void *arg)
{
	struct fx *fx = arg;

	while (!__atomic_load_n(&fx->stop, __ATOMIC_ACQUIRE)) {
		uint32_t st = vio_mmio_dev_read(&fx->m, VIO_MMIO_INTERRUPT_STATUS, 4);

		if (st)
			vio_mmio_dev_write(&fx->m, VIO_MMIO_INTERRUPT_ACK, 4, st);
	}
	return NULL;
}

static void line_matches_status_after_races(void **state)
{
	static struct fx fx;
	struct vio_mmio_dev_opts o = { .version = 2, .irq = t_irq, .opaque = &fx };

	(void)state;
	memset(&fx, 0, sizeof(fx));
	pthread_mutex_init(&fx.lock, NULL);
	fx.ops = (struct vio_dev_ops){ .version = VIO_DEV_OPS_VERSION, .queue_notify = t_notify };
	fx.d.device_id = 4;
	fx.d.host_features = VIO_BIT(VIO_F_VERSION_1);
	fx.d.ops = &fx.ops;
	assert_int_equal(vio_dev_init(&fx.d), 0);
	assert_int_equal(vio_mmio_dev_init(&fx.m, &fx.d, &o), 0);
	for (unsigned r = 0; r < ROUNDS; r++) {
		pthread_t a, b;

		__atomic_store_n(&fx.stop, 0, __ATOMIC_RELEASE);
		assert_int_equal(pthread_create(&b, NULL, acker, &fx), 0);
		assert_int_equal(pthread_create(&a, NULL, raiser, &fx), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		/* Both stopped: the line says what the status says. */
		assert_int_equal(fx.level, vio_mmio_dev_int_status(&fx.m) != 0);
		/* Ack the rest: the line goes low. */
		vio_mmio_dev_write(&fx.m, VIO_MMIO_INTERRUPT_ACK, 4, 3);
		assert_false(fx.level);
	}
	assert_true(fx.calls > ROUNDS);
	vio_mmio_dev_fini(&fx.m);
	pthread_mutex_destroy(&fx.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(line_matches_status_after_races),
	};

	return cmocka_run_group_tests_name("mmio_irq", tests, NULL, NULL);
}
