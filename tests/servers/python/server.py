#!/usr/bin/env python3
"""Real python-engineio server for the `engineio` crate's interop tests.

Runs ``engineio.AsyncServer`` under aiohttp (``--mode aiohttp``, the default)
or under uvicorn as an ASGI app (``--mode asgi``).

Contract (identical to ../node/server.js):
  * listens on 127.0.0.1, random port; prints exactly one line
    ``LISTENING <port>`` to stdout once it accepts connections
  * Engine.IO path: /engine.io/ (the default), protocol v4 only
  * env: EIO_PING_INTERVAL_MS (25000), EIO_PING_TIMEOUT_MS (20000),
         EIO_MAX_PAYLOAD (1000000), EIO_COOKIE ("1" => cookie io=<sid>),
         EIO_CONNECT_MESSAGE (text sent to each client on connect)
  * per message from a client:
      text "close"          -> server closes that session
      text "burst N"        -> sends text "burst-0" .. "burst-{N-1}"
      text "binary <hex>"   -> sends back a binary message with those bytes
      anything else         -> echoed unchanged (binary stays binary)
  * stderr: ``CONNECT <sid>`` and ``DISCONNECT <sid> <reason>``
    stdout: ``DISCONNECT <sid> <reason>`` (the reason may contain spaces)
  * exits (status 0) on SIGTERM/SIGINT and when stdin reaches EOF
    (set EIO_IGNORE_STDIN=1 to disable the latter when running by hand)

Ping interval / timeout: python-engineio takes *seconds*.  The millisecond
environment values are passed on as float seconds (ms / 1000), so the server
really pings every EIO_PING_INTERVAL_MS.  BUT python-engineio 4.15.1
announces ``"pingInterval": int(ping_interval) * 1000`` in the open packet,
i.e. it truncates to whole seconds (1500 ms is announced as 1000, 500 ms as
0).  pingTimeout is announced exactly (``int(ping_timeout * 1000)``).  Use
multiples of 1000 ms for EIO_PING_INTERVAL_MS when the announced value must
match the real one; a warning is printed to stderr otherwise.
"""

import argparse
import asyncio
import logging
import os
import re
import signal
import socket
import sys
import threading
import urllib.parse

try:
    import engineio
except ImportError as exc:  # pragma: no cover
    sys.stderr.write(f'{exc}: run scripts/test-servers-setup.sh and use '
                     'tests/servers/python/.venv/bin/python\n')
    sys.exit(3)

BURST_RE = re.compile(r'^burst (\d+)$')
BINARY_RE = re.compile(r'^binary ((?:[0-9a-fA-F]{2})*)$')


def out(line):
    """Machine-readable line on stdout, flushed at once."""
    try:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass  # stdout gone (test runner died)


def log(line):
    try:
        sys.stderr.write(line + '\n')
        sys.stderr.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass


def env_int(name, default):
    raw = os.environ.get(name, '')
    if raw == '':
        return default
    try:
        value = int(raw)
        if value < 0:
            raise ValueError
    except ValueError:
        log(f'invalid {name}={raw!r}')
        sys.exit(2)
    return value


def make_server(async_mode):
    ping_interval_ms = env_int('EIO_PING_INTERVAL_MS', 25000)
    ping_timeout_ms = env_int('EIO_PING_TIMEOUT_MS', 20000)
    max_payload = env_int('EIO_MAX_PAYLOAD', 1000000)
    cookie = 'io' if os.environ.get('EIO_COOKIE') == '1' else None
    connect_message = os.environ.get('EIO_CONNECT_MESSAGE')

    if ping_interval_ms % 1000 != 0:
        log(f'WARNING: EIO_PING_INTERVAL_MS={ping_interval_ms} is not a '
            'whole number of seconds; python-engineio pings every '
            f'{ping_interval_ms / 1000}s but announces pingInterval='
            f'{int(ping_interval_ms / 1000) * 1000}')

    eio = engineio.AsyncServer(
        async_mode=async_mode,
        ping_interval=ping_interval_ms / 1000.0,
        ping_timeout=ping_timeout_ms / 1000.0,
        max_http_buffer_size=max_payload,
        cookie=cookie,
        # no CORS checks: the Rust client sends no Origin header anyway
        cors_allowed_origins='*',
        logger=False,
    )

    @eio.on('connect')
    async def on_connect(sid, environ):
        # (eio.transport(sid) still says "polling" here for a websocket-only
        # connection, so read the transport from the query string)
        query = urllib.parse.parse_qs(environ.get('QUERY_STRING', ''))
        transport = query.get('transport', ['?'])[0]
        log(f'CONNECT {sid} transport={transport}')
        if connect_message is not None:
            # queued right behind the open packet
            await eio.send(sid, connect_message)

    @eio.on('message')
    async def on_message(sid, data):
        if isinstance(data, str):
            if data == 'close':
                log(f'CLOSE-REQUESTED {sid}')
                # AsyncServer.disconnect() waits until the close packet has
                # been picked up by the client; this handler runs as its own
                # task (async_handlers=True) so that blocks nothing else.
                await eio.disconnect(sid)
                return
            m = BURST_RE.match(data)
            if m:
                for i in range(int(m.group(1))):
                    await eio.send(sid, f'burst-{i}')
                return
            m = BINARY_RE.match(data)
            if m:
                await eio.send(sid, bytes.fromhex(m.group(1)))
                return
        # text or bytes: echo unchanged, same type
        await eio.send(sid, data)

    @eio.on('disconnect')
    async def on_disconnect(sid, reason):
        log(f'DISCONNECT {sid} {reason}')
        out(f'DISCONNECT {sid} {reason}')

    log(f'python-engineio {engineio_version()} mode={async_mode} '
        f'ping_interval={ping_interval_ms / 1000.0}s '
        f'ping_timeout={ping_timeout_ms / 1000.0}s '
        f'max_http_buffer_size={max_payload} cookie={cookie or "off"} '
        f'connect_message='
        f'{"off" if connect_message is None else repr(connect_message)}')
    return eio


def engineio_version():
    try:
        from importlib.metadata import version
        return version('python-engineio')
    except Exception:  # pragma: no cover
        return '?'


def bound_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def watch_stdin(loop, stop):
    """Set `stop` once stdin reaches EOF (parent gone / pipe closed).

    A plain thread works for every kind of stdin (pipe, file, /dev/null,
    tty), unlike loop.connect_read_pipe().
    """
    def reader():
        try:
            while os.read(0, 65536):
                pass
            why = 'stdin EOF'
        except OSError as exc:
            why = f'stdin error {exc}'
        loop.call_soon_threadsafe(request_stop, stop, why)

    threading.Thread(target=reader, name='stdin-watch', daemon=True).start()


def request_stop(stop, why):
    if not stop.is_set():
        log(f'SHUTDOWN {why}')
        stop.set()


async def close_all(eio):
    # Close every session (reason "server disconnect") without waiting for
    # the clients to collect the close packet, then stop background tasks.
    for sid in list(eio.sockets):
        try:
            await eio.sockets[sid].close(wait=False)
        except Exception:  # pragma: no cover
            pass
    try:
        await asyncio.wait_for(eio.shutdown(), 1.0)
    except Exception:  # pragma: no cover
        pass


async def run_aiohttp(stop):
    from aiohttp import web

    eio = make_server('aiohttp')
    app = web.Application()
    eio.attach(app)  # routes '/engine.io/'
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=0.5)
    await runner.setup()
    sock = bound_socket()
    site = web.SockSite(runner, sock)
    await site.start()
    out(f'LISTENING {sock.getsockname()[1]}')
    await stop.wait()
    await close_all(eio)
    await runner.cleanup()


async def run_asgi(stop):
    import contextlib

    import uvicorn

    class Server(uvicorn.Server):
        # Signals are handled by us (uvicorn would re-raise SIGTERM after
        # its graceful shutdown, making the exit status 143 instead of 0).
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    eio = make_server('asgi')
    app = engineio.ASGIApp(eio)  # engineio_path='engine.io'
    config = uvicorn.Config(
        app, lifespan='off', access_log=False, log_config=None,
        log_level='warning', ws='wsproto', timeout_graceful_shutdown=1,
    )
    server = Server(config)
    sock = bound_socket()
    serve = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if serve.done():
            serve.result()  # raise the startup error
            raise SystemExit(1)
        await asyncio.sleep(0.01)
    out(f'LISTENING {sock.getsockname()[1]}')
    await stop.wait()
    await close_all(eio)
    server.should_exit = True
    try:
        await asyncio.wait_for(serve, 3.0)
    except asyncio.TimeoutError:  # pragma: no cover
        log('uvicorn did not stop in time')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mode', choices=['aiohttp', 'asgi'],
                        default='aiohttp')
    args = parser.parse_args()

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format='%(levelname)s %(name)s: %(message)s')
    # python-engineio attaches its own stderr handler; don't print twice
    logging.getLogger('engineio.server').propagate = False

    async def amain():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, request_stop, stop, sig.name)
        if os.environ.get('EIO_IGNORE_STDIN') != '1':
            watch_stdin(loop, stop)
        if args.mode == 'aiohttp':
            await run_aiohttp(stop)
        else:
            await run_asgi(stop)

    asyncio.run(amain())
    log('EXIT')
    sys.stdout.flush()
    sys.stderr.flush()
    # The stdin watcher thread may still be blocked in read(); don't wait
    # for it (daemon threads are fine, but be explicit and fast).
    os._exit(0)


if __name__ == '__main__':
    main()
