"""``python -m appliance`` = the ``posenet-appliance`` command."""

import sys

from appliance.cli import main

sys.exit(main())
