import pathlib

import pytest
import tensorflow as tf

from keras_linformer.models import SPECIAL_TOKENS
from keras_linformer.models import LinformerTokenizer
from keras_linformer.models import learn_vocabulary

TEXT = (
    "The quick brown fox jumped over the lazy dog.\n"
    "The lazy dog slept, and the quick fox ran.\n"
    "Foxes and dogs: quick, lazy, brown.\n"
) * 20  # WordPiece learning keeps a word only if it is frequent enough.


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return path


def test_special_tokens_come_first(text_file):
    vocabulary = learn_vocabulary([str(text_file)], vocabulary_size=60)
    assert vocabulary[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(set(vocabulary)) == len(vocabulary)
    assert len(SPECIAL_TOKENS) < len(vocabulary) <= 60


def test_learned_vocabulary_tokenizes_its_corpus(text_file):
    vocabulary = learn_vocabulary(str(text_file), vocabulary_size=200)
    tokenizer = LinformerTokenizer(vocabulary=vocabulary)
    # Large enough for whole words: frequent words are single tokens.
    assert "quick" in vocabulary and "lazy" in vocabulary
    ids = tokenizer("The QUICK lazy fox")
    assert tokenizer.id_to_token(int(ids[1])) == "quick"
    assert tokenizer.detokenize(ids) == "the quick lazy fox"
    assert tokenizer.token_to_id("[UNK]") not in ids.tolist()


def test_small_vocabulary_is_truncated_to_size(text_file):
    vocabulary = learn_vocabulary([text_file], vocabulary_size=12)
    assert len(vocabulary) == 12
    assert vocabulary[:5] == list(SPECIAL_TOKENS)


def test_lowercase_false_keeps_case(text_file):
    cased = learn_vocabulary(text_file, vocabulary_size=200, lowercase=False)
    uncased = learn_vocabulary(text_file, vocabulary_size=200)
    assert "The" in cased and "The" not in uncased
    assert "the" in uncased


def test_several_files_and_pathlib_paths(text_file, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("zebra giraffe zebra\n" * 20)
    vocabulary = learn_vocabulary([text_file, other], vocabulary_size=200)
    assert "zebra" in vocabulary and "quick" in vocabulary


def test_from_dataset():
    dataset = tf.data.Dataset.from_tensor_slices(TEXT.splitlines())
    vocabulary = learn_vocabulary(dataset, vocabulary_size=200)
    assert vocabulary[:5] == list(SPECIAL_TOKENS)
    assert "brown" in vocabulary


def test_missing_file_names_the_path(text_file, tmp_path):
    missing = tmp_path / "no_such_dir" / "missing.txt"
    with pytest.raises(FileNotFoundError, match=r"no_such_dir.*missing\.txt"):
        learn_vocabulary([str(text_file), str(missing)], vocabulary_size=50)


@pytest.mark.parametrize("content", ["", "  \n\n \t\n"], ids=["empty", "blank"])
def test_empty_file_names_the_file(text_file, tmp_path, content):
    empty = tmp_path / "empty.txt"
    empty.write_text(content)
    with pytest.raises(ValueError, match=r"'.*empty\.txt' is empty"):
        learn_vocabulary([text_file, empty], vocabulary_size=50)


@pytest.mark.parametrize("lines", [[""], [" ", "\t\n"], []])
def test_dataset_without_text_is_refused(lines):
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string))
    with pytest.raises(ValueError, match="holds no text"):
        learn_vocabulary(dataset, vocabulary_size=50)


def test_empty_list_of_files_is_refused():
    with pytest.raises(ValueError, match="empty list"):
        learn_vocabulary([], vocabulary_size=50)


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        learn_vocabulary([tmp_path], vocabulary_size=50)


@pytest.mark.parametrize("size", [5, 0, 12.5, None])
def test_vocabulary_size_must_exceed_special_tokens(text_file, size):
    with pytest.raises(ValueError, match=r"`vocabulary_size` must be"):
        learn_vocabulary(text_file, vocabulary_size=size)


def test_path_object_is_accepted(text_file):
    assert isinstance(text_file, pathlib.Path)
    assert learn_vocabulary(text_file, vocabulary_size=30)[:5] == list(
        SPECIAL_TOKENS
    )
