#!/usr/bin/python3
"""A real SMTP server for the tests (Debian's python3-aiosmtpd): STARTTLS
with a self-signed certificate, AUTH PLAIN/LOGIN (after TLS only) for user
pipehost / password from --password, each message saved raw as
MAILDIR/N.eml with X-MailFrom and X-RcptTo (the envelope, so Bcc is
testable) and X-TLS / X-Auth-User on top.  Recipients whose local part
starts with "reject" get 550, "tempfail" 451.
Usage: smtpd.py STATE_DIR PASSWORD -- writes STATE_DIR/port and
STATE_DIR/ca.pem; messages go to STATE_DIR/mail/."""
import asyncio
import os
import ssl
import subprocess
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

STATE, PASSWORD = sys.argv[1], sys.argv[2]
MAIL = os.path.join(STATE, "mail")
os.makedirs(MAIL, exist_ok=True)


class Handler:
    seq = 0

    async def handle_RCPT(self, server, session, envelope, address, options):
        local = address.split("@")[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 no such user"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        Handler.seq += 1
        tls = session.ssl is not None
        ad = getattr(session, "auth_data", None)
        user = ad.login if session.authenticated and ad is not None and \
            hasattr(ad, "login") else b""
        head = (f"X-MailFrom: {envelope.mail_from}\r\n"
                f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
                f"X-TLS: {'yes' if tls else 'no'}\r\n"
                f"X-Auth-User: {user.decode()}\r\n")
        path = os.path.join(MAIL, f"{time.time():.6f}-{Handler.seq}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and \
            auth_data.login == b"pipehost" and \
            auth_data.password == PASSWORD.encode():
        return AuthResult(success=True, auth_data=auth_data)
    # handled=False: aiosmtpd then answers 535 itself (with handled=True the
    # client would wait for a reply that never comes)
    return AuthResult(success=False, handled=False)


def main():
    ca, key = os.path.join(STATE, "ca.pem"), os.path.join(STATE, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", ca, "-days", "2", "-subj",
                    "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(ca, key)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = Controller(Handler(), hostname="127.0.0.1", port=port,
                   tls_context=ctx, authenticator=authenticator,
                   auth_require_tls=True, decode_data=False)
    c.start()
    with open(os.path.join(STATE, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(STATE, "port.tmp"), os.path.join(STATE, "port"))
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


main()
