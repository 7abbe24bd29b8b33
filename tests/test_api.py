"""The Python API mirrors the CLI, and its names stay functions whatever is imported."""

import subprocess
import sys
import types


def test_public_functions_keep_their_names_after_their_modules_are_imported():
    code = (
        "import entropy_lens as el, types\n"
        "import entropy_lens.measure.generate, entropy_lens.measure.score, entropy_lens.analyses.pivotal, entropy_lens.analyses.reflect\n"
        "from entropy_lens.outputs import write_rare\n"
        "for name in ('generate', 'score', 'pivotal', 'reflect', 'rare', 'dynamics'):\n"
        "    assert callable(getattr(el, name)) and not isinstance(getattr(el, name), types.ModuleType), name\n"
        "from entropy_lens import generate, pivotal\n"
        "assert callable(generate) and callable(pivotal)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_every_public_name_resolves():
    import entropy_lens

    for name in entropy_lens.__all__:
        value = getattr(entropy_lens, name)
        assert not isinstance(value, types.ModuleType), name
