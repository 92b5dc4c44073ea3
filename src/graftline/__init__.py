"""graftline: versioned, validated, reproducible transfer learning for image data.

The library is plain Python (numpy, torch, timm, Great Expectations, onnxruntime); it never imports Prefect or DVC.
Those engines drive it from ``graftline_flows`` and ``dvc.yaml``.
"""

import os

# Analytics off in everything we start (users can still opt in by setting these themselves).
for _k, _v in {"GX_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
    os.environ.setdefault(_k, _v)

__version__ = "0.1.0"
