"""Fernet encryption for secret values in the per-environment config files.

The key never sits in the repository: it comes from ``SALESFLOW_FERNET_KEY`` or from the file named
by ``SALESFLOW_FERNET_KEY_FILE`` (default ``~/.config/salesflow/fernet.key``). Encrypted values are
written in config files as ``fernet:<token>``.

Command line (the value is read from standard input so it stays out of shell history)::

    python -m salesflow.crypto genkey > ~/.config/salesflow/fernet.key
    printf '%s' 'my-secret' | python -m salesflow.crypto encrypt
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

ENCRYPTED_PREFIX = "fernet:"
KEY_ENV = "SALESFLOW_FERNET_KEY"
KEY_FILE_ENV = "SALESFLOW_FERNET_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/salesflow/fernet.key")


class SecretConfigError(RuntimeError):
    """A config secret cannot be decrypted; the message says why, never the secret."""


def load_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The Fernet key from the environment variable or the key file (never from the repository)."""
    environ = os.environ if environ is None else environ
    key = environ.get(KEY_ENV, "").strip()
    if key:
        return key.encode()
    key_file = Path(environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()
    if key_file.is_file():
        return key_file.read_text().strip().encode()
    raise SecretConfigError(
        f"no Fernet key: set {KEY_ENV} or put the key in {key_file} (or point {KEY_FILE_ENV} at it); "
        "create one with `python -m salesflow.crypto genkey`"
    )


def _fernet(key: bytes | None) -> Fernet:
    try:
        return Fernet(key if key is not None else load_key())
    except ValueError as error:
        raise SecretConfigError(
            "the Fernet key is malformed (it must be 32 url-safe base64-encoded bytes)"
        ) from error


def encrypt_value(plaintext: str, key: bytes | None = None) -> str:
    return ENCRYPTED_PREFIX + _fernet(key).encrypt(plaintext.encode()).decode()


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX)


def decrypt_value(value: str, key: bytes | None = None, *, name: str = "value") -> str:
    if not is_encrypted(value):
        return value
    token = value[len(ENCRYPTED_PREFIX) :].encode()
    try:
        return _fernet(key).decrypt(token).decode()
    except InvalidToken:
        raise SecretConfigError(f"cannot decrypt config {name}: wrong Fernet key or damaged token") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salesflow.crypto", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("genkey", help="print a new Fernet key")
    sub.add_parser("encrypt", help="encrypt standard input for a config file")
    args = parser.parse_args(argv)
    if args.command == "genkey":
        print(Fernet.generate_key().decode())
        return 0
    plaintext = sys.stdin.read().rstrip("\n")
    if not plaintext:
        print("error: nothing to encrypt on standard input", file=sys.stderr)
        return 2
    try:
        print(encrypt_value(plaintext))
    except SecretConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
