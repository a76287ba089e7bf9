#!/usr/bin/env python3
"""Real python-engineio 3.14.2 server (Engine.IO protocol v3) for the `engineio` crate's
interop tests.

Runs ``engineio.AsyncServer(async_mode="aiohttp")`` of python-engineio 3.14.2 (the
engine of python-socketio 4.x) under aiohttp 3.9.5. Run it with the interpreter of
tests/servers/python-v3/.venv (made by scripts/test-servers-setup.sh).

Contract (the one of ../node/server.js and ../python/server.py, as far as
python-engineio 3 allows; ../node/server-v3.js follows the same one):
  * listens on 127.0.0.1, random port; prints exactly one line
    ``LISTENING <port>`` to stdout once it accepts connections
  * Engine.IO path: /engine.io/ (the default). Protocol v3 only: a handshake with
    ``EIO=4`` (or no ``EIO``) is answered 400 ``"The client is using an unsupported
    version of the Socket.IO or Engine.IO protocols"`` (python-engineio accepts
    ``EIO=2`` and ``EIO=3``). Polling payloads: ``b64=1`` -> text ``<len>:<packet>``
    framing, binary as ``b4<base64>``; without ``b64`` -> ALWAYS binary framing
    (application/octet-stream), even for text-only payloads.
  * env: EIO_PING_INTERVAL_MS (25000), EIO_PING_TIMEOUT_MS (20000),
         EIO_MAX_PAYLOAD (1000000; max_http_buffer_size, not announced in the v3
           handshake),
         EIO_COOKIE: python-engineio 3 sets a cookie ``io=<sid>; path=/; SameSite=Lax``
           on the polling handshake response BY DEFAULT. Unset or "1" => that default
           cookie; "0" => no cookie (``cookie=None``). (The v4 servers send no cookie
           unless EIO_COOKIE=1.)
         EIO_CONNECT_MESSAGE (text sent to each client on connect),
         EIO_QUIET ("1" => no stderr log lines),
         EIO_REPORT ("1" => the CONNECT and RECEIVED stdout lines below)
  * per message from a client:
      text "close"          -> server closes that session
      text "burst N"        -> sends text "burst-0" .. "burst-{N-1}"
      text "binary <hex>"   -> sends back a binary message with those bytes
      anything else         -> echoed unchanged (binary stays binary)
  * stderr: ``CONNECT <sid>`` and ``DISCONNECT <sid> <reason>``
    stdout: ``DISCONNECT <sid> <reason>`` (the reason may contain spaces)
    with EIO_REPORT=1, on stdout too: ``CONNECT <sid> <transport>`` per new session,
    and ``RECEIVED <sid> <JSON string>`` per text message received (``RECEIVED <sid>
    binary <hex>`` per binary one), printed before the message is acted on.
    with EIO_COOKIE=1: ``COOKIE <ok|missing> <polling|websocket>`` on stdout for each
    request of an open session (whether it carries ``io=<sid>`` back).
  * exits (status 0) on SIGTERM/SIGINT and when stdin reaches EOF
    (set EIO_IGNORE_STDIN=1 to disable the latter when running by hand)

Disconnect reasons: python-engineio 3 calls the ``disconnect`` handler with the sid
only. This script names the reason after the library function that closed the session
(found on the call stack), with the words python-engineio 4 uses:

  ``server disconnect``  the server closed it (message ``close``, a POST over
                         EIO_MAX_PAYLOAD, shutdown)
  ``client disconnect``  the client sent the close packet ``1``
  ``ping timeout``       no ping for pingInterval + pingTimeout (checked by the
                         library's monitor task), or a long-poll GET that got nothing
                         to send for pingTimeout (see below)
  ``transport close``    the WebSocket ended: closed by the client, or nothing read
                         from it for pingTimeout

Timing (python-engineio 3 takes seconds; ms / 1000 is passed as a float, and both
values are announced exactly, in ms):
  * the monitor task closes a session that sent no ping for ping_interval + grace;
    the grace is set to pingTimeout (``ping_interval=(interval, timeout)``), i.e. the
    v3 rule "pingInterval + pingTimeout" that engine.io 3 follows too (the library's
    own default grace is 5 s);
  * BUT python-engineio 3 also ends a long-poll GET that has had nothing to send for
    pingTimeout (the session is closed, the GET gets 400), and a WebSocket from which
    nothing was read for pingTimeout. A v3 client pings every pingInterval, so with
    pingTimeout <= pingInterval (the defaults 25000/20000 included) an idle session
    dies after pingTimeout. Use EIO_PING_TIMEOUT_MS > EIO_PING_INTERVAL_MS for
    sessions that must survive idle periods (python-engineio 3's own defaults are
    25 s / 60 s); a warning is printed to stderr otherwise.

Text messages: python-engineio 3 json-decodes every text message it can (``4"x"``
would arrive as ``x``, ``4{"a": 1}`` as a dict); this script installs a json module
whose ``loads`` always fails, so text arrives (and is echoed) verbatim.
"""

import asyncio
import json
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
                     'tests/servers/python-v3/.venv/bin/python\n')
    sys.exit(3)

BURST_RE = re.compile(r'^burst (\d+)$')
BINARY_RE = re.compile(r'^binary ((?:[0-9a-fA-F]{2})*)$')
QUIET = os.environ.get('EIO_QUIET') == '1'
REPORT = os.environ.get('EIO_REPORT') == '1'


def out(line):
    """Machine-readable line on stdout, flushed at once."""
    try:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass  # stdout gone (test runner died)


def log(line):
    if QUIET:
        return
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


class RawTextJson:
    """A json module for python-engineio's packets: encodes like json, never decodes,
    so that text messages reach the handler exactly as sent."""

    @staticmethod
    def dumps(*args, **kwargs):
        return json.dumps(*args, **kwargs)

    @staticmethod
    def loads(*args, **kwargs):
        raise ValueError('text messages are not decoded')


# python-engineio function on the call stack of the disconnect handler -> reason.
# The innermost match wins.
_REASON_BY_FRAME = {
    'receive': 'client disconnect',          # close packet from the client
    'check_ping_timeout': 'ping timeout',    # monitor task, or any send()
    'handle_get_request': 'ping timeout',    # long-poll GET: nothing for ping_timeout
    '_websocket_handler': 'transport close',  # WebSocket closed / read timed out
    'disconnect': 'server disconnect',       # AsyncServer.disconnect()
}


def disconnect_reason():
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == 'close_all' and code.co_filename == __file__:
            return 'server disconnect'
        if f'{os.sep}engineio{os.sep}' in code.co_filename:
            reason = _REASON_BY_FRAME.get(code.co_name)
            if reason is not None:
                return reason
        frame = frame.f_back
    return 'unknown'


def make_server():
    ping_interval_ms = env_int('EIO_PING_INTERVAL_MS', 25000)
    ping_timeout_ms = env_int('EIO_PING_TIMEOUT_MS', 20000)
    max_payload = env_int('EIO_MAX_PAYLOAD', 1000000)
    cookie_env = os.environ.get('EIO_COOKIE', '')
    if cookie_env not in ('', '0', '1'):
        log(f'invalid EIO_COOKIE={cookie_env!r} (use 1 or 0)')
        sys.exit(2)
    cookie = None if cookie_env == '0' else 'io'
    connect_message = os.environ.get('EIO_CONNECT_MESSAGE')

    if ping_timeout_ms <= ping_interval_ms:
        log(f'WARNING: EIO_PING_TIMEOUT_MS={ping_timeout_ms} <= '
            f'EIO_PING_INTERVAL_MS={ping_interval_ms}: python-engineio 3 closes '
            'a session whose long-poll GET (or WebSocket) sees nothing for '
            f'{ping_timeout_ms} ms, before the client\'s next ping')

    interval = ping_interval_ms / 1000.0
    timeout = ping_timeout_ms / 1000.0
    eio = engineio.AsyncServer(
        async_mode='aiohttp',
        ping_interval=(interval, timeout),  # (interval, grace period)
        ping_timeout=timeout,
        max_http_buffer_size=max_payload,
        allow_upgrades=True,
        cookie=cookie,
        # no CORS checks: the Rust client sends no Origin header anyway
        cors_allowed_origins='*',
        json=RawTextJson,
        logger=False,
    )

    @eio.on('connect')
    async def on_connect(sid, environ):
        query = urllib.parse.parse_qs(environ.get('QUERY_STRING', ''))
        transport = query.get('transport', ['?'])[0]
        log(f'CONNECT {sid} transport={transport}')
        if REPORT:
            out(f'CONNECT {sid} {transport}')
        if connect_message is not None:
            # queued right behind the open packet
            await eio.send(sid, connect_message)

    @eio.on('message')
    async def on_message(sid, data):
        if data is None:  # an empty message ("4") is decoded as None
            data = ''
        if REPORT:
            if isinstance(data, str):
                out(f'RECEIVED {sid} {json.dumps(data, ensure_ascii=False)}')
            else:
                out(f'RECEIVED {sid} binary {bytes(data).hex()}')
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
                await eio.send(sid, bytes.fromhex(m.group(1)), binary=True)
                return
            await eio.send(sid, data, binary=False)
        else:
            # bytes: echoed as binary
            await eio.send(sid, bytes(data), binary=True)

    @eio.on('disconnect')
    async def on_disconnect(sid):
        reason = disconnect_reason()
        log(f'DISCONNECT {sid} {reason}')
        out(f'DISCONNECT {sid} {reason}')

    log(f'python-engineio {versions()} (protocol v3) mode=aiohttp '
        f'ping_interval={interval}s ping_timeout={timeout}s '
        f'max_http_buffer_size={max_payload} cookie={cookie or "off"} '
        f'connect_message='
        f'{"off" if connect_message is None else repr(connect_message)}')
    return eio


def versions():
    try:
        from importlib.metadata import version
        return f'{version("python-engineio")}, aiohttp {version("aiohttp")}'
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
    """Set `stop` once stdin reaches EOF (parent gone / pipe closed)."""
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
    # Close every session (reason "server disconnect") without waiting for the
    # clients to collect the close packet: a pending long-poll GET gets it.
    for sid in list(eio.sockets):
        try:
            await eio.sockets[sid].close(wait=False)
        except Exception:  # pragma: no cover
            pass
    await asyncio.sleep(0.05)  # let pending GETs and WebSocket writers flush


def cookie_middleware():
    from aiohttp import web

    @web.middleware
    async def check(request, handler):
        sid = request.query.get('sid')
        if sid:
            kind = ('websocket'
                    if request.headers.get('Upgrade', '').lower() == 'websocket'
                    else 'polling')
            ok = request.cookies.get('io') == sid
            out(f'COOKIE {"ok" if ok else "missing"} {kind}')
        return await handler(request)

    return check


async def run_aiohttp(stop):
    from aiohttp import web

    eio = make_server()
    middlewares = [cookie_middleware()] if os.environ.get('EIO_COOKIE') == '1' else []
    app = web.Application(middlewares=middlewares)
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


def main():
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
        await run_aiohttp(stop)

    asyncio.run(amain())
    log('EXIT')
    sys.stdout.flush()
    sys.stderr.flush()
    # The stdin watcher thread may still be blocked in read(); don't wait for it.
    os._exit(0)


if __name__ == '__main__':
    main()
