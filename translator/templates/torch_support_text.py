"""Keras' text preprocessing for translated PyTorch scripts (keras.preprocessing.text, the Keras 1/2
API that Keras 3 keeps under keras.src.legacy): Tokenizer, tokenizer_from_json,
text_to_word_sequence, one_hot and hashing_trick, with Keras' results."""

import numpy as np


def text_to_word_sequence(input_text, filters='!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', lower=True, split=" "):
    """Keras' text_to_word_sequence: every filtered character becomes a separator; empty words drop."""
    if lower:
        input_text = input_text.lower()
    separators = str.maketrans({c: split for c in filters})
    return [word for word in input_text.translate(separators).split(split) if word]


def hashing_trick(text, n, hash_function=None, filters='!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', lower=True,
                  split=" ", analyzer=None):
    """Keras' hashing_trick: each word as hash(word) % (n - 1) + 1, so index 0 is never used."""
    if hash_function is None:
        # Keras' default is Python's built-in `hash`, which salts strings per process
        # (PYTHONHASHSEED). It is kept: the indexes are the ones Keras gives under the same seed,
        # and like Keras' they change from run to run unless the seed is fixed.
        hash_function = hash
    elif hash_function == "md5":
        import hashlib

        def hash_function(word):
            return int(hashlib.md5(word.encode()).hexdigest(), 16)

    words = analyzer(text) if analyzer is not None else text_to_word_sequence(text, filters, lower, split)
    return [hash_function(word) % (n - 1) + 1 for word in words]


def one_hot(input_text, n, filters='!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', lower=True, split=" ",
            analyzer=None):
    """Keras' one_hot: hashing_trick with Python's `hash` (see hashing_trick)."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower, split=split,
                         analyzer=analyzer)


class Tokenizer:
    """Keras' text Tokenizer. Words are indexed from 1 by count, ties in the order they first
    appeared, after `oov_token` (index 1) when there is one; `num_words` is applied when texts are
    converted (indexes >= num_words dropped, or replaced by the oov index), not when fitting."""

    def __init__(self, num_words=None, filters='!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', lower=True, split=" ",
                 char_level=False, oov_token=None, analyzer=None, **kwargs):
        import collections

        if "nb_words" in kwargs:  # Keras 1's name
            import warnings

            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed `num_words`.")
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)  # tokenizer_from_json passes it back
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {kwargs}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = document_count
        self.word_counts = collections.OrderedDict()
        self.word_docs = collections.defaultdict(int)  # in how many texts each word occurs
        self.index_docs = collections.defaultdict(int)
        self.word_index = {}
        self.index_word = {}

    def _tokens(self, text):
        """A text's tokens: its characters with char_level, a list's items as given, else its words."""
        if self.char_level or isinstance(text, list):
            if not self.lower:
                return text
            return [token.lower() for token in text] if isinstance(text, list) else text.lower()
        if self.analyzer is not None:
            return self.analyzer(text)
        return text_to_word_sequence(text, filters=self.filters, lower=self.lower, split=self.split)

    def fit_on_texts(self, texts):
        for text in texts:
            self.document_count += 1
            tokens = self._tokens(text)
            for word in tokens:
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
            for word in set(tokens):
                self.word_docs[word] += 1
        # sorted() is stable: words with the same count keep the order they first appeared in
        ranked = sorted(self.word_counts, key=lambda word: -self.word_counts[word])
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + ranked
        self.word_index = dict(zip(vocabulary, range(1, len(vocabulary) + 1)))
        self.index_word = {i: word for word, i in self.word_index.items()}
        for word, count in self.word_docs.items():
            self.index_docs[self.word_index[word]] = count

    def fit_on_sequences(self, sequences):
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts):
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        oov_index = self.word_index.get(self.oov_token)
        for text in texts:
            seq = []
            for word in self._tokens(text):
                i = self.word_index.get(word)
                if i is None:
                    if self.oov_token is not None:
                        seq.append(oov_index)
                elif self.num_words and i >= self.num_words:
                    if oov_index is not None:
                        seq.append(oov_index)
                else:
                    seq.append(i)
            yield seq

    def sequences_to_texts(self, sequences):
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        oov_index = self.word_index.get(self.oov_token)
        for seq in sequences:
            words = []
            for i in seq:
                word = self.index_word.get(i)
                if word is None:
                    if self.oov_token is not None:
                        words.append(self.index_word[oov_index])
                elif self.num_words and i >= self.num_words:
                    if oov_index is not None:
                        words.append(self.index_word[oov_index])
                else:
                    words.append(word)
            yield " ".join(words)

    def texts_to_matrix(self, texts, mode="binary"):
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """One row per sequence, one column per index below num_words: "binary", "count", "freq"
        (count / sequence length) or "tfidf" ((1 + ln count) * ln(1 + texts / (1 + texts with it)))."""
        import collections

        if self.num_words:
            size = self.num_words
        elif self.word_index:
            size = len(self.word_index) + 1
        else:
            raise ValueError("Specify a dimension (`num_words` argument), or fit on some text data first.")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        x = np.zeros((len(sequences), size))
        for row, seq in enumerate(sequences):
            if len(seq) == 0:
                continue
            counts = collections.Counter(i for i in seq if i < size)
            for i, count in counts.items():
                if mode == "count":
                    x[row][i] = count
                elif mode == "freq":
                    x[row][i] = count / len(seq)
                elif mode == "binary":
                    x[row][i] = 1
                elif mode == "tfidf":
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(i, 0)))
                    x[row][i] = (1 + np.log(count)) * idf
                else:
                    raise ValueError("Unknown vectorization mode:", mode)
        return x

    def get_config(self):
        import json

        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
                "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs):
        import json

        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string):
    """Keras' tokenizer_from_json: a Tokenizer from to_json's text (integer keys restored)."""
    import json

    config = dict(json.loads(json_string).get("config"))
    tables = {key: json.loads(config.pop(key))
              for key in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = tables["word_counts"]
    tokenizer.word_docs = tables["word_docs"]
    tokenizer.index_docs = {int(i): count for i, count in tables["index_docs"].items()}
    tokenizer.word_index = tables["word_index"]
    tokenizer.index_word = {int(i): word for i, word in tables["index_word"].items()}
    return tokenizer
