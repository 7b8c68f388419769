"""Drive one dojo-nb episode over OpenEnv: start `dojo-nb serve --task penguins-species` first.

    DOJO_NB_SERVE_TOKEN=... python examples/openenv_client.py [http://127.0.0.1:8000]
"""

import os
import sys

from dojo_nb.serve.client import DojoNbClient
from dojo_nb.serve.models import DojoAction

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
with DojoNbClient(url, token=os.environ["DOJO_NB_SERVE_TOKEN"]).sync() as env:
    result = env.reset(seed=0)
    print(result.observation.text[:300])
    for action in [DojoAction(type="execute_code", code="import pandas as pd\nprint(pd.read_csv(f'{INPUT_DIR}/train.csv').shape)"),
                   DojoAction(type="execute_code", code="import shutil, glob\nshutil.copy(glob.glob(f'{INPUT_DIR}/sample_submission*')[0], SUBMISSION_PATH)"),
                   DojoAction(type="submit", final=True)]:
        result = env.step(action)
        print(action.type, result.observation.status, result.reward, result.observation.text[:200])
    print("done:", result.done, "final:", result.observation.info.get("final", {}).get("private_position_score"))
