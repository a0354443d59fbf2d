/* SPDX-License-Identifier: MIT */
/* console.c - the operator console: stdin/stdout or a serial line set up through termios. */
#include "hal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Saved terminal state of a serial device, restored on close. One console
 * per process, so one slot is enough. */
static struct termios saved_tio;
static int saved_fd = -1;
static int saved_stdin_flags = -1; /* stdin's flags before we made it non-blocking */

static int baud_constant(unsigned baud, speed_t *out)
{
	static const struct {
		unsigned baud;
		speed_t sp;
	} table[] = {
		{9600, B9600},     {19200, B19200},   {38400, B38400},   {57600, B57600},
		{115200, B115200}, {230400, B230400}, {460800, B460800}, {921600, B921600},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (table[i].baud == baud) {
			*out = table[i].sp;
			return 0;
		}
	}
	return -1;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int tw_hal_console_open(const char *dev, unsigned baud, struct tw_hal_console *con, char *err,
			size_t errlen)
{
	struct termios tio;
	speed_t sp;
	int fd;

	memset(con, 0, sizeof *con);
	con->in_fd = con->out_fd = -1;
	if (dev == NULL || strcmp(dev, "-") == 0) {
		con->in_fd = STDIN_FILENO;
		con->out_fd = STDOUT_FILENO;
		con->is_tty = isatty(STDIN_FILENO);
		/* Only the input side is made non-blocking: stdout often shares its
		 * open file with stderr, and log lines must not meet EAGAIN. */
		saved_stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
		if (saved_stdin_flags < 0 || set_nonblock(STDIN_FILENO) < 0) {
			snprintf(err, errlen, "console: cannot make stdin non-blocking: %s",
				 strerror(errno));
			return TW_ERR_IO;
		}
		return TW_OK;
	}
	if (baud_constant(baud, &sp) < 0) {
		snprintf(err, errlen,
			 "console: baud rate %u not supported (9600, 19200, 38400, 57600, "
			 "115200, 230400, 460800, 921600)",
			 baud);
		return TW_ERR_ARG;
	}
	fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "console: cannot open %s: %s", dev, strerror(errno));
		return TW_ERR_IO;
	}
	con->is_tty = isatty(fd);
	if (con->is_tty) {
		if (tcgetattr(fd, &tio) < 0) {
			snprintf(err, errlen, "console: %s: tcgetattr: %s", dev, strerror(errno));
			close(fd);
			return TW_ERR_IO;
		}
		saved_tio = tio;
		saved_fd = fd;
		cfmakeraw(&tio);
		/* Raw 8N1 with no flow control, but keep CR->NL so a terminal
		 * emulator's Enter ends a line. */
		tio.c_iflag |= ICRNL;
		tio.c_oflag |= OPOST | ONLCR;
		tio.c_cflag |= CLOCAL | CREAD;
		tio.c_cflag &= ~(CRTSCTS | CSTOPB | PARENB);
		tio.c_cc[VMIN] = 0;
		tio.c_cc[VTIME] = 0;
		if (cfsetispeed(&tio, sp) < 0 || cfsetospeed(&tio, sp) < 0 ||
		    tcsetattr(fd, TCSANOW, &tio) < 0) {
			snprintf(err, errlen, "console: %s: cannot set %u baud: %s", dev, baud,
				 strerror(errno));
			close(fd);
			saved_fd = -1;
			return TW_ERR_IO;
		}
	}
	con->in_fd = con->out_fd = fd;
	con->owns_fds = 1;
	return TW_OK;
}

void tw_hal_console_close(struct tw_hal_console *con)
{
	if (!con->owns_fds && con->in_fd == STDIN_FILENO && saved_stdin_flags >= 0) {
		fcntl(STDIN_FILENO, F_SETFL, saved_stdin_flags);
		saved_stdin_flags = -1;
	}
	if (con->owns_fds && con->in_fd >= 0) {
		if (saved_fd == con->in_fd) {
			tcsetattr(saved_fd, TCSANOW, &saved_tio);
			saved_fd = -1;
		}
		close(con->in_fd);
	}
	con->in_fd = con->out_fd = -1;
	con->owns_fds = 0;
}

static long io_result(ssize_t n, int is_read)
{
	if (n > 0)
		return (long)n;
	if (n == 0)
		return is_read ? TW_ERR_CLOSED : TW_ERR_WOULD_BLOCK;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return TW_ERR_WOULD_BLOCK;
	if (errno == EPIPE || errno == EIO)
		return TW_ERR_CLOSED;
	return TW_ERR_IO;
}

long tw_hal_console_read(const struct tw_hal_console *con, void *buf, size_t len)
{
	return io_result(read(con->in_fd, buf, len), 1);
}

long tw_hal_console_write(const struct tw_hal_console *con, const void *buf, size_t len)
{
	return io_result(write(con->out_fd, buf, len), 0);
}
