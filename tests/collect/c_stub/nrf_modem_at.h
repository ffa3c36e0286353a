/* Host stub of the Modem library's AT interface, for compiling the README's CW/1 snippet in tests. */
#ifndef NRF_MODEM_AT_H__
#define NRF_MODEM_AT_H__
#include <stddef.h>
int nrf_modem_at_cmd(void *buf, size_t len, const char *fmt, ...);
#endif
