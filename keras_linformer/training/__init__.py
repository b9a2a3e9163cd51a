"""Training: the jobs of the command line, and distribution utilities.

- `pretrain`, `finetune`, `evaluate` and their `ModelConfig`: the jobs of
  `keras-linformer pretrain | finetune | evaluate`.
- `get_strategy`, `check_global_batch_size`, `STRATEGIES`: `--strategy`.
- `fit_resumable`: `model.fit` that checkpoints every N steps and resumes.
- `atomic_directory`: writing an artifact so that it is never half-written.
- `AdamW`, `SGD`: clip the gradient of the global batch on any number of
  replicas; `LinearWarmup`: a learning-rate warmup before any schedule.

Example:

```python
from keras_linformer.training import ModelConfig, pretrain

pretrain(["train.txt"], model=ModelConfig(projected_dim=64), epochs=3)
```
"""

from keras_linformer.artifacts import atomic_directory
from keras_linformer.training.optimizers import SGD
from keras_linformer.training.optimizers import AdamW
from keras_linformer.training.recipes import ModelConfig
from keras_linformer.training.recipes import evaluate
from keras_linformer.training.recipes import finetune
from keras_linformer.training.recipes import pretrain
from keras_linformer.training.resumable import fit_resumable
from keras_linformer.training.schedules import LinearWarmup
from keras_linformer.training.strategy import STRATEGIES
from keras_linformer.training.strategy import check_global_batch_size
from keras_linformer.training.strategy import get_strategy

__all__ = [
    "STRATEGIES",
    "SGD",
    "AdamW",
    "LinearWarmup",
    "ModelConfig",
    "atomic_directory",
    "check_global_batch_size",
    "evaluate",
    "finetune",
    "fit_resumable",
    "get_strategy",
    "pretrain",
]
