/*
 * serial.c - the smallest 16550 UART Linux's 8250 driver accepts, at I/O
 * ports 0x3f8..0x3ff (COM1): what the guest transmits goes to a FILE at
 * once, nothing is ever received.
 *
 * The driver probes the chip before it trusts it: the scratch register
 * must keep what was written, and in loopback mode (MCR bit 4) the modem
 * status lines must echo the modem control lines. The line status always
 * says "transmitter empty", so polled output (printk, earlyprintk) never
 * waits; interrupt-driven output (a process writing to the tty) needs the
 * THR-empty interrupt, raised whenever the guest enables it.
 */
#include <string.h>

#include "vmm.h"

#define COM1 0x3f8
#define UART_RBR_THR 0 /* DLL when LCR.DLAB */
#define UART_IER 1 /* DLM when LCR.DLAB */
#define UART_IIR_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define LCR_DLAB 0x80
#define IER_THRI 0x02
#define MCR_LOOP 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01

void vmm_serial_init(struct vmm_serial *s, FILE *out)
{
	memset(s, 0, sizeof(*s));
	s->out = out;
	s->dll = 1; /* 115200 baud */
}

int vmm_serial_irq_level(const struct vmm_serial *s)
{
	return (s->ier & IER_THRI) != 0;
}

static void transmit(struct vmm_serial *s, uint8_t c)
{
	fputc(c, s->out);
	if (c == '\n')
		fflush(s->out);
	if (s->tail_len == sizeof(s->tail) - 1) {
		memmove(s->tail, s->tail + 1, s->tail_len - 1);
		s->tail_len--;
	}
	s->tail[s->tail_len++] = (char)c;
	s->tail[s->tail_len] = '\0';
}

/* The modem status a loopback test expects: DTR->DSR, RTS->CTS,
 * OUT1->RI, OUT2->DCD. Outside loopback: CTS, DSR and DCD asserted. */
static uint8_t modem_status(const struct vmm_serial *s)
{
	if (s->mcr & MCR_LOOP)
		return (uint8_t)(((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3) |
				 ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
	return 0xb0;
}

int vmm_serial_io(struct vmm_serial *s, uint16_t port, int is_write, uint8_t *val)
{
	unsigned reg;

	if (port < COM1 || port > COM1 + 7)
		return 0;
	reg = port - COM1;
	if (is_write) {
		uint8_t v = *val;

		switch (reg) {
		case UART_RBR_THR:
			if (s->lcr & LCR_DLAB)
				s->dll = v;
			else if (!(s->mcr & MCR_LOOP))
				transmit(s, v);
			break;
		case UART_IER:
			if (s->lcr & LCR_DLAB)
				s->dlm = v;
			else
				s->ier = v & 0x0f;
			break;
		case UART_IIR_FCR:
			s->fcr = v;
			break;
		case UART_LCR:
			s->lcr = v;
			break;
		case UART_MCR:
			s->mcr = v & 0x1f;
			break;
		case UART_SCR:
			s->scr = v;
			break;
		default: /* LSR and MSR are read-only */
			break;
		}
		return 1;
	}
	switch (reg) {
	case UART_RBR_THR:
		*val = (s->lcr & LCR_DLAB) ? s->dll : 0;
		break;
	case UART_IER:
		*val = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR_FCR:
		*val = (uint8_t)(((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0) |
				 ((s->ier & IER_THRI) ? IIR_THRI : IIR_NO_INT));
		break;
	case UART_LCR:
		*val = s->lcr;
		break;
	case UART_MCR:
		*val = s->mcr;
		break;
	case UART_LSR:
		*val = LSR_THRE | LSR_TEMT;
		break;
	case UART_MSR:
		*val = modem_status(s);
		break;
	default:
		*val = s->scr;
		break;
	}
	return 1;
}
