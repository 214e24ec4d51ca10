"""`flowyard.Client` and the typed views it returns.

    from flowyard import Client

    with Client() as client:
        run = client.run("examples/pipelines/train.py:train_pipeline", {"test_size": 0.3})
        print(run.state, run.outputs)
"""

from flowyard.client.client import Client
from flowyard.client.transport import Transport
from flowyard.client.views import ArtifactInfo, Run, RunStep

__all__ = ["ArtifactInfo", "Client", "Run", "RunStep", "Transport"]
