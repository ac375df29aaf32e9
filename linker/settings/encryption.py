"""Secrets at rest (``linker.platform.vault``): the key ring."""

from __future__ import annotations

import sys

from linker.settings.base import VAR_DIR, env

# --- Secrets at rest --------------------------------------------------------------------------

# Comma-separated base64 AES-256 keys; the first encrypts, all decrypt. Separate from
# SECRET_KEY so that rotating one does not touch the other. Outside production a key is
# generated once into VAR_DIR (see linker.platform.vault).
LINKER_ENCRYPTION_KEYS = env.list("LINKER_ENCRYPTION_KEYS", default=[])
if LINKER_ENCRYPTION_KEYS:
    # Imported only when keys are configured, to fail at start with one line; the vault needs
    # no Django, so importing it from the settings is safe.
    from linker.platform.vault import KeyRing, VaultConfigurationError

    try:
        KeyRing.parse(LINKER_ENCRYPTION_KEYS)
    except VaultConfigurationError as exc:
        sys.exit(f"Copernica Linker cannot start: {exc}")
LINKER_ENCRYPTION_KEY_FILE = VAR_DIR / "encryption.key"
