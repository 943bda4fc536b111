"""Prompt templates of the instruction-data papers (Alpaca-style ``instruction`` / ``input`` / ``output``)."""
from __future__ import annotations

# (with input, without input); Stanford Alpaca's prompt ends in "### Response:" with no newline,
# as Cherry LLM's scorer and trainer use it. "none" is Superfiltering's template-free prompt.
TEMPLATES = {
    "alpaca": (
        ("Below is an instruction that describes a task, paired with an input that provides further context. "
         "Write a response that appropriately completes the request.\n\n"
         "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"),
        ("Below is an instruction that describes a task. "
         "Write a response that appropriately completes the request.\n\n"
         "### Instruction:\n{instruction}\n\n### Response:"),
    ),
    "wiz": ("{instruction}\nInput:{input}\n\n### Response:", "{instruction}\n\n### Response:"),
    "none": ("{instruction}\n{input}\n", "{instruction}\n"),
    "raw": ("{instruction}{input}", "{instruction}"),   # an already rendered prompt (a chat template's output)
}


def check_template(template: str) -> str:
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; valid: {', '.join(TEMPLATES)}")
    return template


def check_samples(samples) -> list[dict]:
    """Samples as a list of dicts with string `instruction` and `output` (and optional `input`)."""
    samples = list(samples)
    for i, s in enumerate(samples):
        if not isinstance(s, dict) or not isinstance(s.get("instruction"), str) or not isinstance(s.get("output"), str):
            raise TypeError(f"sample {i} must be a dict with string 'instruction' and 'output' "
                             f"(and optionally 'input'); got {str(s)[:120]!r}")
        if not isinstance(s.get("input", ""), str):
            raise TypeError(f"sample {i}: 'input' must be a string, got {type(s['input']).__name__}")
    return samples


def format_prompt(sample: dict, template: str = "alpaca") -> str:
    """The prompt of one sample; the no-input form when `input` is missing or empty (official rule)."""
    with_input, no_input = TEMPLATES[check_template(template)]
    inp = sample.get("input", "") or ""
    return with_input.format_map({"instruction": sample["instruction"], "input": inp}) if inp \
        else no_input.format_map({"instruction": sample["instruction"]})
