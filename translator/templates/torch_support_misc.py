"""Keras utilities for translated PyTorch scripts: get_file, the Reuters loader, word indexes, and
the TensorBoard, CSVLogger and LearningRateScheduler callbacks."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .torch_support import keras_cache_path, read_npz


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Keras' utils.get_file: the file in Keras' cache ($KERAS_HOME or ~/.keras), downloaded when
    missing (or when its hash does not match), and the same path Keras returns: the file, or with
    extract=True the folder the archive is unpacked into (`name_extracted`, Keras 3's name)."""
    import hashlib
    import os
    import shutil
    import tarfile
    import urllib.parse
    import urllib.request
    import zipfile

    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if cache_dir is None:  # Keras' home, which importing Keras creates
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(
            os.path.expanduser("~") if os.access(os.path.expanduser("~"), os.W_OK) else "/tmp", ".keras")
        os.makedirs(cache_dir, exist_ok=True)
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(cache_dir)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    folder = os.path.join(base, cache_subdir)
    os.makedirs(folder, exist_ok=True)
    given = fname
    fname = os.fspath(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. "
                         "Please specify the `fname` argument.")
    if os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         f"directory, use the `cache_dir` argument. Received: fname={fname}")
    if (extract or untar) and given and "." in fname:
        target = os.path.join(folder, fname)
        unpacked = os.path.join(folder, fname[:fname.find(".")] + "_extracted")
    elif extract or untar:
        target, unpacked = os.path.join(folder, fname + "_archive"), os.path.join(folder, fname)
    else:
        target, unpacked = os.path.join(folder, fname), None

    def matches(path):
        algorithm = hash_algorithm
        if algorithm == "auto":
            algorithm = "sha256" if len(str(file_hash)) == 64 else "md5"
        hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(65535), b""):
                hasher.update(chunk)
        return hasher.hexdigest() == str(file_hash)

    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and not matches(target):
        print(f"A local file was found, but it seems to be incomplete or outdated because the {hash_algorithm} "
              f"file hash does not match the original value of {file_hash} so we will re-download the data.")
        download = True
    if download:
        print(f"Downloading data from {origin}")
        try:
            urllib.request.urlretrieve(origin, target)
        except BaseException:
            if os.path.exists(target):
                os.remove(target)
            raise
        if file_hash is not None and not matches(target):
            raise ValueError(f"Incomplete or corrupted file detected. The {hash_algorithm} file hash does not "
                             f"match the provided value of {file_hash}.")
    if unpacked is None:
        return target
    formats = ["tar"] if untar else ["tar", "zip"] if archive_format == "auto" else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format or [])
    for kind in formats:  # as Keras: unpacked again on every call, unsafe member paths skipped
        opener, test = (tarfile.open, tarfile.is_tarfile) if kind == "tar" else (zipfile.ZipFile, zipfile.is_zipfile)
        if not test(target):
            continue
        with opener(target) as archive:
            try:
                if kind == "tar":
                    archive.extractall(unpacked, filter="data")
                else:
                    root = os.path.realpath(unpacked)
                    safe = [m for m in archive.infolist()
                            if os.path.realpath(os.path.join(root, m.filename)).startswith(root + os.sep)]
                    archive.extractall(unpacked, members=safe)
            except (tarfile.TarError, RuntimeError, KeyboardInterrupt):
                if os.path.isfile(unpacked):
                    os.remove(unpacked)
                elif os.path.exists(unpacked):
                    shutil.rmtree(unpacked)
                raise
        return unpacked
    print("Could not extract archive.")
    return unpacked


def load_reuters(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
                 start_char=1, oov_char=2, index_from=3):
    """Keras' datasets.reuters.load_data(): newswires as word indexes, shuffled, filtered and split as
    Keras does."""
    f = read_npz(keras_cache_path(path, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz"))
    xs, labels = f["x"], f["y"]
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    xs, labels = xs[order], labels[order]
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    if maxlen:
        kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
        xs, labels = [x for x, _ in kept], [y for _, y in kept]
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    split = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:split], dtype="object"), np.array(labels[:split])),
            (np.array(xs[split:], dtype="object"), np.array(labels[split:])))


def reuters_word_index(path="reuters_word_index.json"):
    """Keras' datasets.reuters.get_word_index(): word -> index, from Keras' cached JSON file."""
    import json

    with open(keras_cache_path(path, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
                                     "reuters_word_index.json")) as f:
        return json.load(f)


def imdb_word_index(path="imdb_word_index.json"):
    """Keras' datasets.imdb.get_word_index(): word -> index, from Keras' cached JSON file."""
    import json

    with open(keras_cache_path(path, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
                                     "imdb_word_index.json")) as f:
        return json.load(f)


class TensorBoard:
    """Keras' TensorBoard callback: each epoch's logs as scalars `epoch_<name>` in log_dir/train and
    log_dir/validation (with the learning rate, and weight histograms every `histogram_freq` epochs),
    written by torch's SummaryWriter. update_freq "batch" or N also writes the running logs as
    `batch_<name>` every N training batches (counted over the whole fit, as Keras counts them), and
    write_steps_per_second adds `epoch_steps_per_second` (and `batch_steps_per_second` with batch
    logging). Needs the tensorboard package; without it, training goes on and nothing is written.

    Not written (the translator notes each one given): the model graph (write_graph), weight images
    (write_images), profiles (profile_batch), embeddings (embeddings_freq, embeddings_metadata) and
    Keras 2's gradient histograms (write_grads, batch_size, embeddings_layer_names, embeddings_data).
    None of them changes training."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None, write_grads=False, batch_size=32, embeddings_layer_names=None,
                 embeddings_data=None):
        self.log_dir, self.histogram_freq = str(log_dir), histogram_freq
        self.write_steps_per_second, self.writers = write_steps_per_second, {}
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.step, self.epoch_start, self.epoch_steps, self.batch_start = 0, 0.0, 0, 0.0

    def on_train_begin(self):
        import os

        self.step = 0
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print(f"TensorBoard: the tensorboard package is not installed (pip install tensorboard); "
                  f"no logs are written to {self.log_dir}")
            self.writers = {}
            return
        self.writers = {part: SummaryWriter(os.path.join(self.log_dir, part)) for part in ("train", "validation")}

    def on_epoch_begin(self, model, epoch):
        import time

        self.epoch_start, self.epoch_steps = time.perf_counter(), 0

    def on_batch_begin(self, model, batch):
        import time

        self.step += 1
        self.batch_start = time.perf_counter()

    def on_batch_end(self, model, batch, logs):
        import time

        self.epoch_steps += 1
        if not self.writers or self.update_freq == "epoch" or self.step % self.update_freq:
            return
        if self.write_steps_per_second:
            seconds = max(time.perf_counter() - self.batch_start, 1e-9)
            self.writers["train"].add_scalar("batch_steps_per_second", 1.0 / seconds, self.step)
        for name, value in logs.items():
            self.writers["train"].add_scalar(f"batch_{name}", value, self.step)

    def on_epoch_end(self, model, epoch, logs):
        import time

        if not self.writers:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train.setdefault("learning_rate", model.optimizer.param_groups[0]["lr"])
        if self.write_steps_per_second:
            train["steps_per_second"] = self.epoch_steps / max(time.perf_counter() - self.epoch_start, 1e-9)
        for name, value in train.items():
            self.writers["train"].add_scalar(f"epoch_{name}", value, epoch)
        for name, value in logs.items():
            if name.startswith("val_"):
                self.writers["validation"].add_scalar(f"epoch_{name[4:]}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, weight in model.named_parameters():
                self.writers["train"].add_histogram(name, weight.detach().cpu(), epoch)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, model):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


class CSVLogger:
    """Keras' CSVLogger: one CSV row per epoch, `epoch` and the logs in sorted order, as Keras writes them."""

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.separator, self.append = str(filename), separator, append
        self.file, self.writer, self.keys = None, None, None

    def on_train_begin(self):
        import os

        header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                header = not f.readline()
        self.header = header
        self.file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.writer, self.keys = None, None

    def on_epoch_end(self, model, epoch, logs):
        import csv

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.separator})
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch", *self.keys], dialect=dialect)
            if self.header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, model):
        if self.file is not None and not self.file.closed:
            self.file.close()
        self.writer = None


class LearningRateScheduler:
    """Keras' LearningRateScheduler: sets the learning rate to schedule(epoch, lr) before each epoch
    and logs it as `learning_rate`."""

    def __init__(self, schedule, verbose=0):
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, model, epoch):
        lr = float(model.optimizer.param_groups[0]["lr"])
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # Keras also takes a schedule of the epoch alone
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            message = f"The output of the `schedule` function should be a float. Got: {lr}"
            raise ValueError(message)  # noqa: TRY004 - the error Keras raises
        for group in model.optimizer.param_groups:
            group["lr"] = float(torch.tensor(lr, dtype=torch.float32))  # Keras holds it in float32
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, model, epoch, logs):
        logs["learning_rate"] = float(torch.tensor(model.optimizer.param_groups[0]["lr"], dtype=torch.float32))


def image_data_format():
    """Keras' image data format: the translated layers hold images channels last, Keras' default."""
    return "channels_last"


def set_image_data_format(data_format):
    """Keras' setting of the image data format; the translation supports only channels_last."""
    if data_format != "channels_last":
        raise ValueError("the translated layers hold images channels last")


def image_dim_ordering():
    """Keras 1's name for the image data format: "tf" is channels last."""
    return "tf"


def set_image_dim_ordering(dim_ordering):
    """Keras 1's setting of the image data format; the translation supports only "tf" (channels last)."""
    if dim_ordering != "tf":
        raise ValueError("the translated layers hold images channels last")


class KerasReLU(nn.Module):
    """Keras' ReLU with max_value, negative_slope and threshold together: x above the threshold
    (clipped to [0, max_value]), negative_slope * (x - threshold) below it."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0):
        super().__init__()
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x):
        below = torch.relu(self.threshold - x)
        y = x * (x > self.threshold) if self.threshold else torch.relu(x)
        if self.max_value is not None:
            y = torch.clamp(y, 0.0, self.max_value)
        return y - self.negative_slope * below if self.negative_slope else y


class KerasAvgPoolSame(nn.Module):
    """Keras' average pooling with padding='same' where TensorFlow pads one side more than the
    other: the input is padded explicitly and each window's sum is divided by its real cells."""

    def __init__(self, kernel_size, stride=None, pad=()):
        super().__init__()
        self.kernel_size, self.stride, self.pad = kernel_size, stride or kernel_size, tuple(pad)

    def forward(self, x):
        pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[len(self.pad) // 2 - 1]
        cells = F.pad(torch.ones_like(x[:1, :1]), self.pad)
        return pool(F.pad(x, self.pad), self.kernel_size, self.stride) / pool(cells, self.kernel_size, self.stride)

