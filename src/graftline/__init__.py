"""graftline: versioned, validated, reproducible transfer learning for image data.

The library is plain Python (numpy, torch, timm, Great Expectations, onnxruntime); it never imports Prefect or DVC.
Those engines drive it from ``graftline_flows`` and ``dvc.yaml``.
"""

import os
from typing import MutableMapping

# What every process we start gets unless the user set it: no analytics from GX, DVC, Prefect's server or the hub.
ANALYTICS_OFF = {"GX_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                 "HF_HUB_DISABLE_TELEMETRY": "1"}


def analytics_off(environ: MutableMapping[str, str] = os.environ) -> None:
    """Turn analytics off in this process and what it starts (DVC, GX, the hub), keeping any value the user set.
    Called by the entry points (``graftline``'s main, the Prefect flow), never on import: importing a library must
    not change its host's environment."""
    for k, v in ANALYTICS_OFF.items():
        environ.setdefault(k, v)


__version__ = "0.1.0"
