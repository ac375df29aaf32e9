# Sourced by the scripts: where `pip install uv` may have put uv (user or interpreter scripts).
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
export PATH="$HOME/.local/bin:${scripts_dir:+$scripts_dir:}$PATH"
