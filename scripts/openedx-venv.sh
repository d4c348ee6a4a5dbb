#!/usr/bin/env bash
# A virtual environment holding Open edX's LTI 1.3 consumer (lti-consumer-xblock),
# for tests/lti/test_lti_openedx.py. That package is AGPL and brings Django, so it
# stays out of Kejian's own environment: the tests run it as a separate process
# (tests/lti/openedx_platform.py) and speak to it over HTTP.
#
#   bash scripts/openedx-venv.sh [DIR]    # prints DIR/bin/python once it is ready
set -euo pipefail

dir="${1:-.venv-openedx}"
python="$dir/bin/python"
if ! "$python" -c "import lti_consumer, cryptography" >/dev/null 2>&1; then
    rm -rf "$dir"
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check \
        "lti-consumer-xblock==11.4.4" "cryptography>=42" >&2
fi
echo "$(cd "$dir" && pwd)/bin/python"
