/* SPDX-License-Identifier: MIT */
/* console.c - the operator console (stdin/stdout or a serial line set up through termios) and
 * the log's non-blocking writes to stderr. No shared open file description is ever made
 * non-blocking: O_NONBLOCK is a property of the description, not of the fd, so setting it on a
 * terminal's stdin also sets it on the stderr that shares it, and log lines meet EAGAIN. */
#include "hal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* Saved terminal state of a serial device, restored on close. One console
 * per process, so one slot is enough. */
static struct termios saved_tio;
static int saved_fd = -1;

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
		if (con->is_tty) {
			/* Reopen the terminal by name rather than set O_NONBLOCK on fd 0: the
			 * shell opened one description for stdin, stdout and stderr, and
			 * the flag on it would make every log write to stderr liable to
			 * EAGAIN (lines silently lost). The new description is ours alone. */
			char name[PATH_MAX];
			struct stat in_st, out_st;

			if (ttyname_r(STDIN_FILENO, name, sizeof name) != 0 ||
			    (fd = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0) {
				/* No name to reopen (a revoked tty): read only what poll
				 * says is ready, leaving the description alone. */
				con->poll_first = 1;
				return TW_OK;
			}
			con->in_fd = fd;
			con->owns_fds = 1;
			if (fstat(STDIN_FILENO, &in_st) == 0 && fstat(STDOUT_FILENO, &out_st) == 0 &&
			    S_ISCHR(out_st.st_mode) && out_st.st_rdev == in_st.st_rdev)
				con->out_fd = fd;
			else
				con->poll_first = 1; /* stdout elsewhere: written after a poll */
			return TW_OK;
		}
		/* A pipe or a file: not made non-blocking either (another process may
		 * hold the same description); each read follows a zero-time poll. */
		con->poll_first = 1;
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
	if (con->owns_fds && con->in_fd >= 0) {
		if (saved_fd == con->in_fd) {
			tcsetattr(saved_fd, TCSANOW, &saved_tio);
			saved_fd = -1;
		}
		close(con->in_fd);
	}
	con->in_fd = con->out_fd = -1;
	con->owns_fds = 0;
	con->poll_first = 0;
}

/* @return the poll bits of @p fd right now (0 when nothing is ready). */
static short ready_now(int fd, short events)
{
	struct pollfd p = {fd, events, 0};

	if (poll(&p, 1, 0) <= 0)
		return 0;
	return p.revents;
}

static long io_error(void)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return TW_ERR_WOULD_BLOCK;
	if (errno == EPIPE || errno == EIO)
		return TW_ERR_CLOSED; /* EIO: the terminal was hung up */
	return TW_ERR_IO;
}

long tw_hal_console_read(const struct tw_hal_console *con, void *buf, size_t len)
{
	ssize_t n;

	if (con->poll_first && !(ready_now(con->in_fd, POLLIN) & (POLLIN | POLLHUP | POLLERR)))
		return TW_ERR_WOULD_BLOCK;
	n = read(con->in_fd, buf, len);
	if (n > 0)
		return (long)n;
	if (n < 0)
		return io_error();
	/* 0 bytes. A pipe or file has ended. A tty read with VMIN=0 returns 0 when
	 * no byte is waiting (that rule comes before O_NONBLOCK's EAGAIN), and
	 * also once the line is hung up: only POLLHUP tells the two apart. */
	if (con->is_tty) {
		struct termios tio;

		/* In canonical mode (a terminal on stdin) 0 is the EOF character. */
		if (tcgetattr(con->in_fd, &tio) == 0 && (tio.c_lflag & ICANON))
			return TW_ERR_CLOSED;
		if (!(ready_now(con->in_fd, POLLIN) & POLLHUP))
			return TW_ERR_WOULD_BLOCK;
	}
	return TW_ERR_CLOSED;
}

/* A pipe with room takes a write of up to PIPE_BUF bytes without blocking; a
 * terminal that polls writable takes as much (its write room is larger). */
#define POLLED_WRITE_MAX 512

long tw_hal_console_write(const struct tw_hal_console *con, const void *buf, size_t len)
{
	ssize_t n;

	if (con->poll_first || con->out_fd != con->in_fd) {
		short r = ready_now(con->out_fd, POLLOUT);

		if (r & (POLLERR | POLLNVAL))
			return TW_ERR_CLOSED;
		if (!(r & POLLOUT))
			return TW_ERR_WOULD_BLOCK;
		if (len > POLLED_WRITE_MAX)
			len = POLLED_WRITE_MAX;
	}
	n = write(con->out_fd, buf, len);
	if (n > 0)
		return (long)n;
	return n == 0 ? TW_ERR_WOULD_BLOCK : io_error();
}

long tw_hal_log_write(const void *buf, size_t len)
{
	short r = ready_now(STDERR_FILENO, POLLOUT);
	ssize_t n;

	if (r & (POLLERR | POLLNVAL))
		return TW_ERR_IO;
	if (!(r & POLLOUT))
		return TW_ERR_WOULD_BLOCK;
	n = write(STDERR_FILENO, buf, len > POLLED_WRITE_MAX ? POLLED_WRITE_MAX : len);
	if (n > 0)
		return (long)n;
	if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return TW_ERR_WOULD_BLOCK;
	return TW_ERR_IO;
}

int tw_hal_log_fd(void)
{
	return STDERR_FILENO;
}
