"""Where scoring services keep their files under the data dir.

```
services/{service id}/g{generation}/        one deployment: app/ (entry script and assets),
                                            azureml-models/{name}/{version}/..., deploy.log
services/{service id}/g{generation}/r{i}/   one replica: config.json, worker.log, ready.json
scoring/                                    the scoring front: front.json, routes.json, control.sock,
                                            front.log, and the workers' sockets (w/)
insights/{component}/                       an Application Insights component's request log, one file per service
```
"""

from __future__ import annotations

import re
from pathlib import Path

from amlite.arm.tables import Resource
from amlite.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def service_dir(settings: Settings, service_id: str) -> Path:
    return settings.data_dir / "services" / service_id


def deployment_dir(settings: Settings, service_id: str, generation: int) -> Path:
    return service_dir(settings, service_id) / f"g{generation}"


def replica_dir(settings: Settings, service_id: str, generation: int, index: int) -> Path:
    return deployment_dir(settings, service_id, generation) / f"r{index}"


def front_dir(settings: Settings) -> Path:
    return settings.data_dir / "scoring"


def sockets_dir(settings: Settings) -> Path:
    """The workers' Unix sockets; the front runs here and names them relatively (sockets' paths are short)."""
    return front_dir(settings) / "w"


def insights_dir(settings: Settings, component: Resource) -> Path:
    return settings.data_dir / "insights" / f"{component.id}-{_UNSAFE.sub('_', component.name)}"


def request_log(settings: Settings, component: Resource, service_id: str) -> Path:
    return insights_dir(settings, component) / f"requests-{service_id}.log"
