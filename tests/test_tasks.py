from __future__ import annotations

import pytest

from modelexport.errors import UserInputError
from modelexport.tasks import TASKS, get_task, infer_task


@pytest.mark.parametrize(
    ("architectures", "model_type", "task"),
    [
        (["BertForSequenceClassification"], "bert", "text-classification"),
        (["BertModel"], "bert", "feature-extraction"),
        (["RobertaForQuestionAnswering"], "roberta", "question-answering"),
        (["DistilBertForTokenClassification"], "distilbert", "token-classification"),
        (["AlbertForMaskedLM"], "albert", "fill-mask"),
        (["BertForMultipleChoice"], "bert", "multiple-choice"),
        (["ViTForImageClassification"], "vit", "image-classification"),
        (["DeiTForImageClassificationWithTeacher"], "deit", "image-classification"),
        (["SegformerForSemanticSegmentation"], "segformer", "image-segmentation"),
        (["MobileViTForSemanticSegmentation"], "mobilevit", "image-segmentation"),
        (["XLMWithLMHeadModel"], "xlm", "fill-mask"),
        (["XLNetForQuestionAnsweringSimple"], "xlnet", "question-answering"),
        (["DPRQuestionEncoder"], "dpr", "feature-extraction"),
        (["CLIPModel"], "clip", "zero-shot-image-classification"),
        (["Wav2Vec2ForSequenceClassification"], "wav2vec2", "audio-classification"),
        (["Wav2Vec2ForCTC"], "wav2vec2", "automatic-speech-recognition"),
    ],
)
def test_task_is_inferred_from_the_head_in_config_architectures(architectures, model_type, task):
    assert infer_task(architectures, model_type) == task


def test_missing_architectures_ask_for_an_explicit_task():
    with pytest.raises(UserInputError, match="pass --task"):
        infer_task(None, "bert")


def test_unknown_task_lists_the_supported_ones():
    with pytest.raises(UserInputError) as info:
        get_task("summarise-my-email")
    assert "text-classification" in info.value.one_line()
    assert info.value.exit_code == 2


def test_every_task_names_an_existing_auto_class_and_ort_class():
    import transformers
    from optimum import onnxruntime

    for spec in TASKS.values():
        assert hasattr(transformers, spec.auto_class), spec.auto_class
        assert hasattr(onnxruntime, spec.ort_class), spec.ort_class
