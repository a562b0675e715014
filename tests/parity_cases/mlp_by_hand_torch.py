"""A hand-written PyTorch port of mlp_keras.py: its own module names, a DataLoader, a plain loop."""
import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(0)
x = rng.normal(size=(300, 12))
y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 1).astype("int64")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(12, 32), nn.ReLU(),
            nn.BatchNorm1d(32, eps=1e-3, momentum=0.01),
            nn.Dropout(0.3),
            nn.Linear(32, 16), nn.Tanh(),
            nn.Linear(16, 3),  # logits: CrossEntropyLoss applies the softmax
        )

    def forward(self, x):
        return self.body(x)


torch.manual_seed(0)
net = Net()
split = math.floor(len(x) * (1 - 0.2))  # Keras validates on the last 20%
train = TensorDataset(torch.tensor(x[:split], dtype=torch.float32), torch.tensor(y[:split]))
loader = DataLoader(train, batch_size=32, shuffle=True)
optimizer = torch.optim.Adam(net.parameters(), lr=0.003, eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(2):
    net.train()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
