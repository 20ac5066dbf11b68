"""Build the worked notebooks in this folder from the cell sources below.

The ``.ipynb`` files are generated: edit this script, then run it, and commit both::

    python notebooks/_build.py           # (re)write every notebook
    python notebooks/_build.py --check   # exit 1 if a committed notebook differs from what this script builds

Notebooks are written with their outputs stripped and with stable cell ids, so rebuilding an unchanged script
gives byte-identical files and diffs show only real changes. CI executes them (``tests/notebooks``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]  # ("markdown" | "code", source)


def md(source: str) -> Cell:
    return ("markdown", textwrap.dedent(source).strip("\n"))


def code(source: str) -> Cell:
    return ("code", textwrap.dedent(source).strip("\n"))


# --- snippets shared by several notebooks (each notebook stays self-contained: they are copied in) ---------

MODE_HEADER = """
# How this notebook runs: OFFLINE against finetune_sdk.testing.BedrockEmulation (an in-process AWS on top of
# moto: real boto3 requests, scripted model answers, nothing leaves this machine) when no AWS credentials
# are found or FINETUNE_SDK_OFFLINE=1; otherwise FOR REAL in your account, which costs money.
import contextlib
import os
import pathlib
import shutil
import tempfile

import boto3

OFFLINE = os.environ.get("FINETUNE_SDK_OFFLINE", "").lower() in {"1", "true", "yes"} or (
    boto3.Session().get_credentials() is None
)
NEEDED = [{required}]
missing = [] if OFFLINE else [v for v in NEEDED if not os.environ.get(v)]
if missing:
    raise RuntimeError(
        f"AWS credentials found: set {' and '.join(missing)} to run in your account "
        "(or FINETUNE_SDK_OFFLINE=1 to run offline against the AWS emulation)"
    )
WORKDIR = pathlib.Path(tempfile.mkdtemp(prefix="finetune-sdk-nb{n}-"))  # every scratch file goes here
stack = contextlib.ExitStack()  # closed in the last cell: leaves the emulation and deletes WORKDIR
stack.callback(shutil.rmtree, WORKDIR, ignore_errors=True)
"""

LOCAL_MODE_HEADER = """
# How this notebook runs: the same offline and with AWS credentials.
# {what}
# (In the AWS notebooks, FINETUNE_SDK_OFFLINE=1 or missing credentials switch to an AWS emulation.)
import contextlib
import os
import pathlib
import shutil
import tempfile

import boto3

OFFLINE = os.environ.get("FINETUNE_SDK_OFFLINE", "").lower() in {{"1", "true", "yes"}} or (
    boto3.Session().get_credentials() is None
)
print("AWS:", "offline" if OFFLINE else "credentials found", "- not used by this notebook")
WORKDIR = pathlib.Path(tempfile.mkdtemp(prefix="finetune-sdk-nb{n}-"))  # every scratch file goes here
stack = contextlib.ExitStack()  # closed in the last cell: deletes WORKDIR
stack.callback(shutil.rmtree, WORKDIR, ignore_errors=True)
"""

FIND_DATASETS = """


def find_shared_datasets() -> pathlib.Path:
    \"\"\"$FINETUNE_SDK_SHARED_DATASETS, else the first `shared/datasets` folder found upward from here.\"\"\"
    if os.environ.get("FINETUNE_SDK_SHARED_DATASETS"):
        return pathlib.Path(os.environ["FINETUNE_SDK_SHARED_DATASETS"]).expanduser()
    here = pathlib.Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "shared" / "datasets").is_dir():
            return folder / "shared" / "datasets"
    raise FileNotFoundError(
        f"no shared/datasets folder in {here} or above it: set FINETUNE_SDK_SHARED_DATASETS to the folder "
        "that holds tatqa/ and aqua/"
    )


DATASETS = find_shared_datasets()
"""

DRAW = """

def draw(*key: str) -> float:
    \"\"\"A stable pseudo-random number in [0, 1) for `key`: emulated answers are the same on every run.\"\"\"
    return int(hashlib.sha256("|".join(key).encode()).hexdigest()[:8], 16) / 2**32
"""


def join(*pieces: str) -> str:
    """Pieces of cell source, each dedented on its own, one after the other."""
    out = []
    for piece in pieces:  # drop only the newline after the opening quotes and the one before the closing ones
        text = textwrap.dedent(piece)
        text = text[1:] if text.startswith("\n") else text
        out.append(text[:-1] if text.endswith("\n") else text)
    return "\n".join(out)


REQUIRED = ("FINETUNE_SDK_ROLE_ARN", "FINETUNE_SDK_OUTPUT_URI")


def setup(n: str, *pieces: str, required: Sequence[str] = REQUIRED) -> Cell:
    """The first code cell: how the notebook runs (AWS emulation or real account), then its own setup."""
    names = ", ".join(f'"{v}"' for v in required)
    header = MODE_HEADER.replace("{n}", n).replace("{required}", names)
    return ("code", join(header, "", *pieces))


def local_setup(n: str, what: str, *pieces: str) -> Cell:
    """The first code cell of a notebook that never calls AWS."""
    return ("code", join(LOCAL_MODE_HEADER.format(n=n, what=what), "", *pieces))


# --- 01 quickstart on the local backend -------------------------------------------------------------------

NB01: list[Cell] = [
    md("""
    # Quickstart: fine-tune a model on this machine

    The whole lifecycle on the `local` backend: **data → validate → split → fine-tune → loss curve →
    evaluate base vs tuned**. The base model is a tiny Llama built offline, so nothing is downloaded and no
    cloud account is needed; the notebook runs in about a minute on two CPU cores.

    The calls are the same on every backend: swap `backend=local` for a Bedrock or SageMaker backend (and a
    model id) and this notebook fine-tunes in the cloud (see notebooks 02 and 03).
    """),
    local_setup("01", "The local backend trains in a worker process on this machine; it never calls AWS.", """
    from finetune_sdk import Dataset, Evaluator, InferenceConfig, Job, Model, backends

    local = backends.get("local", root=str(WORKDIR / "runs"), device="cpu")
    local
    """),
    md("""
    ## A tiny base model

    `build_tiny_model` writes a randomly initialised `LlamaForCausalLM` (2 layers, 64 wide) with a byte-level
    tokenizer as an ordinary Hugging Face folder (safetensors, config, tokenizer, chat template). It knows
    nothing yet, which is the point: whatever it answers correctly after fine-tuning, it learned here.
    """),
    code("""
    from finetune_sdk.backends.local import build_tiny_model

    base_path = build_tiny_model(WORKDIR / "tiny-llama", preset="tiny", seed=0)
    sorted(p.name for p in base_path.iterdir())
    """),
    md("""
    ## A small synthetic dataset

    Parity questions: *"Is 417 even or odd?"* → *"odd"*. To answer, the model has to learn a rule (look at
    the last digit), not memorise pairs, so the held-out test questions can be numbers it never saw.
    """),
    code("""
    import random

    numbers = random.Random(0).sample(range(10, 1000), 480)  # all different: test numbers are new
    rows = [{"messages": [{"role": "user", "content": f"Is {n} even or odd?"},
                          {"role": "assistant", "content": "even" if n % 2 == 0 else "odd"}]} for n in numbers]
    data = Dataset.from_records(rows)
    data
    """),
    md("""
    ## Validate

    `validate()` finds every problem before anything trains, each with its line and the rule it breaks. A
    copy with two broken records shows what a report looks like; the real data is clean.
    """),
    code("""
    no_answer = {"messages": [{"role": "user", "content": "Is 12 even or odd?"}]}
    other_format = {"prompt": "Is 7 even or odd?"}
    broken = Dataset.from_records([*rows[:3], no_answer, other_format])
    print(broken.validate().to_text())
    """),
    code("""
    report = data.validate()
    report.raise_for_errors()  # raises DatasetValidationError (with the report) if anything is wrong
    print(report.summary())
    """),
    md("""
    ## Split

    A seeded split into train, validation (watched during training) and a blind test set.
    """),
    code("""
    splits = data.split({"train": 0.8, "validation": 0.1, "test": 0.1}, seed=7)
    splits
    """),
    md("""
    ## Fine-tune

    Hyperparameters use Bedrock's names where they mean the same thing (`epochCount`, `batchSize`,
    `learningRate`) and are checked before the job starts. The local backend trains LoRA adapters by default,
    which is what a pretrained model wants; a randomly initialised model this small learns faster when every
    weight trains, so this notebook asks for `"method": "full"`. The job runs in its own worker process; the
    handle comes back at once.
    """),
    code("""
    job = Job.fine_tune(
        model=str(base_path),
        train=splits.train,
        validation=splits.validation,
        backend=local,
        hyperparameters={"method": "full", "epochCount": 4, "batchSize": 16, "learningRate": 0.003,
                         "logEverySteps": 2, "evalEverySteps": 8, "seed": 7},
    )
    job
    """),
    md("""
    ## Wait

    `wait()` polls with backoff (a progress bar in notebooks) and raises `JobFailedError` with the reason if
    the job fails. It returns the same `Job`, so calls chain: `Job.fine_tune(...).wait().model`.
    """),
    code("""
    job.wait()
    print(job.status, "-", job.record.raw["total_steps"], "steps")
    """),
    md("""
    ## Loss curve

    `metrics()` is a DataFrame with the same columns on every backend; `plot_metrics()` draws it. The loss
    is per answer token: it starts near ln 262 ≈ 5.6, a uniform guess over the byte vocabulary, and falls
    towards 0 as the model learns the rule. The validation loss (the dots) is measured on records it never
    trains on.
    """),
    code("""
    metrics = job.metrics()
    metrics.tail()
    """),
    code("""
    %matplotlib inline
    job.plot_metrics()
    """),
    md("""
    ## Evaluate base vs tuned

    The Evaluator sends the blind test set to both models and scores the answers, with bootstrap confidence
    intervals and a paired significance test against the baseline (the first model). Answers are capped at 6
    tokens: the untrained model would otherwise ramble on to the default limit.
    """),
    code("""
    base = Model.foundation(str(base_path), backend=local)
    tuned = job.model
    question = splits.test[0].prompt_text
    print(question, "->", tuned.chat(question, max_tokens=4).text)

    evaluator = Evaluator(["exact_match", "token_f1", "output_tokens"], config=InferenceConfig(max_tokens=6))
    report = evaluator.compare([base, tuned], splits.test)
    report
    """),
    md("""
    ## Key result

    The fine-tuned model answers the held-out parity questions; the random base model cannot. The last cell
    checks it (so a silent failure cannot pass) and deletes the scratch folder.
    """),
    code("""
    base_em, tuned_em = report.mean("exact_match", base.name), report.mean("exact_match", tuned.name)
    stack.close()
    assert job.status.value == "completed", job.status
    assert tuned_em is not None and base_em is not None, report
    assert tuned_em > base_em and tuned_em >= 0.8, (base_em, tuned_em)
    print(f"RESULT: exact match on {len(splits.test)} held-out questions: "
          f"{base_em:.2f} (base) -> {tuned_em:.2f} (fine-tuned)")
    """),
]


# --- 02 Claude 3 Haiku on Bedrock with TAT-QA ------------------------------------------------------------

NB02: list[Cell] = [
    md("""
    # Claude 3 Haiku on Amazon Bedrock: fine-tuning for TAT-QA

    AWS published this result: Claude 3 Haiku fine-tuned on Bedrock with 10,000 TAT-QA examples (financial
    questions over a table and a few paragraphs) reached a token-level **F1 of 91.2** on held-out
    questions, against **73.2** for the base model and **83.0** for the larger Claude 3.5 Sonnet, while its
    answers got **35% shorter** (34 → 22 output tokens). This notebook walks the same path with the SDK:
    data preparation, validation for the model, a fine-tuning job with early stopping, the loss curve,
    evaluation against the base model and Claude 3.5 Sonnet, deployment on Provisioned Throughput, and
    clean-up.

    > **Offline, the numbers come from emulated models.** Without AWS credentials (or with
    > `FINETUNE_SDK_OFFLINE=1`) every AWS request goes to `BedrockEmulation`, and the three models' answers are
    > *scripted* (next cells) to reproduce the shape of the published result. Offline results measure the
    > SDK's pipeline, not Claude. With credentials, the same cells fine-tune and evaluate the real models, in
    > `us-west-2`, and cost money (a few dollars of training plus Provisioned Throughput by the hour).
    """),
    setup("02", """
    from finetune_sdk import Dataset, Deployment, Evaluator, Job, Model, backends

    REGION = "us-west-2"  # Claude 3 Haiku is customised only here
    HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"  # the catalog id of the customisable model
    """, FIND_DATASETS, """

    if OFFLINE:
        from finetune_sdk.testing import BedrockEmulation

        # the scripted answers come from `emulated_answer`, defined in the next cell
        aws = stack.enter_context(BedrockEmulation(
            region=REGION, responder=lambda model_id, system, messages: emulated_answer(model_id, messages)))
        bedrock = aws.backend()
    else:
        bedrock = backends.get("bedrock", session=boto3.Session(region_name=REGION), region=REGION,
                               role_arn=os.environ["FINETUNE_SDK_ROLE_ARN"],
                               output_uri=os.environ["FINETUNE_SDK_OUTPUT_URI"])
    print("mode:", "OFFLINE (BedrockEmulation, scripted answers)" if OFFLINE else f"REAL AWS ({REGION})")
    print("datasets:", DATASETS)
    """),
    md("""
    ### Offline only: the emulated models

    No model runs offline. Each answer is the test question's reference answer, sometimes wrapped in a
    sentence and sometimes replaced by a near miss, at rates picked to reproduce the published shape: base
    Haiku pads 35% of its answers and misses 10%; Claude 3.5 Sonnet pads 27% and misses 10%; the fine-tuned
    Haiku answers tersely, like the training references, and misses 14%. With AWS credentials this cell is
    unused.
    """),
    code(join("""
    import functools
    import hashlib
    import re


    @functools.cache
    def tatqa_references() -> dict[str, str]:
        files = ("tatqa_dataset_dev.json", "tatqa_dataset_test_gold.json")
        return {r.prompt_text: r.reference for f in files for r in Dataset.from_tatqa(DATASETS / "tatqa" / f)}

    """, DRAW, """


    def near_miss(reference: str) -> str:
        words = reference.split()
        if len(words) > 3:
            return " ".join(words[: len(words) // 2])  # half of a text span
        number = re.search(r"\\d[\\d,]*\\.?\\d*", reference)
        if number:  # an arithmetic slip
            slipped = float(number.group().replace(",", "")) * 1.07
            return reference.replace(number.group(), f"{slipped:.2f}", 1)
        return "not stated"


    STYLE = {"base": (0.90, 0.35), "sonnet": (0.90, 0.27), "tuned": (0.86, 0.0)}  # (right, padded)


    def emulated_answer(model_id: str, messages: list[dict]) -> str:
        question = "".join(block.get("text", "") for block in messages[-1]["content"])
        reference = tatqa_references().get(question, "")
        who = "tuned" if "custom-model" in model_id else "sonnet" if "sonnet" in model_id else "base"
        right, padded = STYLE[who]
        answer = reference if draw(who, question) < right else near_miss(reference)
        if draw("pad", who, question) < padded:
            return f"Based on the table, the answer is {answer}."
        return answer
    """)),
    md("""
    ## Data preparation

    `Dataset.from_tatqa` turns each TAT-QA question into a conversation: the user turn holds the table (as
    text), the paragraphs and the question; the assistant turn is the gold answer with its scale
    (`"6,577 million"`). A system prompt asks for the terse answer style.

    The training and validation sets come from the dev file, split **by context** so that no table appears in
    both; the blind test set comes from the test file. (The published run used 10,000 examples; 600 keep this
    notebook quick and cheap. Raise `N_TRAIN` for a real run.)
    """),
    code("""
    SYSTEM = "Answer the question from the table and the text. Reply with the answer only, with its scale."
    N_TRAIN, N_VALIDATION, N_TEST = 600, 100, 120


    def with_system(record):
        return record.model_copy(update={"system": SYSTEM})


    pool = Dataset.from_tatqa(DATASETS / "tatqa" / "tatqa_dataset_dev.json").map(with_system)
    by_context = pool.split({"train": 0.85, "validation": 0.15}, seed=7,
                            group_by=lambda r: r.prompt_text.rsplit("Question:", 1)[0])
    train = by_context.train.head(N_TRAIN)
    validation = by_context.validation.head(N_VALIDATION)
    test_file = DATASETS / "tatqa" / "tatqa_dataset_test_gold.json"
    test = Dataset.from_tatqa(test_file).map(with_system).head(N_TEST)
    print(f"train {len(train)}, validation {len(validation)}, test {len(test)}")
    print(train[0].prompt_text[-400:], "\\n->", train[0].reference)
    """),
    md("""
    ## Validation for the model

    `validate(for_model=...)` checks every record against Claude 3 Haiku's limits from the catalog
    (format, record counts, tokens per record, reserved strings such as `"\\nHuman:"`) and the validation
    set against its own limits. `stats()` counts tokens and prices the training before anything is sent.
    """),
    code("""
    report = train.validate(for_model=HAIKU, validation=validation)
    report.raise_for_errors()
    print(report.summary())
    train.stats(for_model=HAIKU, epochs=3)
    """),
    md("""
    ## Fine-tune with early stopping

    Typed hyperparameters check their ranges when they are built, and the SDK checks them again against the
    catalog before the request. With a validation set, Bedrock stops when the validation loss has not
    improved by `early_stopping_threshold` for `early_stopping_patience` epochs. `max_cost` refuses to
    submit if the estimate is above it. Running the cell twice attaches to the same job rather than paying
    for a second one.
    """),
    code("""
    from finetune_sdk.hyperparameters import ClaudeHaikuHyperparameters

    hyperparameters = ClaudeHaikuHyperparameters(
        epoch_count=3, batch_size=8, learning_rate_multiplier=1.0,
        early_stopping_threshold=0.001, early_stopping_patience=2,
    )
    job = Job.fine_tune(model=HAIKU, train=train, validation=validation, hyperparameters=hyperparameters,
                        backend=bedrock, max_cost=60.0)
    print(job.estimate_cost())
    job
    """),
    code("""
    job.wait()  # hours on Bedrock; instant offline (the emulation's clock is fake)
    job
    """),
    md("""
    ## Loss curve

    Bedrock writes step-wise training metrics and per-epoch validation metrics to the output location; the SDK
    reads them into the same DataFrame columns as every other backend.
    """),
    code("""
    %matplotlib inline
    metrics = job.metrics()
    print(metrics.dropna(subset=["validation_loss"]))
    job.plot_metrics()
    """),
    md("""
    ## Evaluate: base Haiku vs Claude 3.5 Sonnet vs fine-tuned Haiku

    A fine-tuned Claude 3 Haiku is served through Provisioned Throughput. The `with` block creates it, and
    deletes it on exit even if the evaluation fails (it is billed by the hour). The two base models are
    invoked on demand. The metric is the simple token-overlap F1 of the published result (precision =
    shared tokens / generated tokens, recall = shared tokens / reference tokens), with output tokens
    alongside.
    """),
    code("""
    base = Model.foundation(HAIKU, backend=bedrock)
    sonnet = Model.foundation("anthropic.claude-3-5-sonnet-20240620-v1:0", backend=bedrock)
    tuned_model = job.model

    evaluator = Evaluator(["token_f1", "output_tokens"], concurrency=4)
    with tuned_model.deploy(name="haiku-tatqa", model_units=1) as tuned:
        print(tuned, "->", tuned.chat(test[0].prompt_text, system=SYSTEM).text)
        report = evaluator.compare([base, sonnet, tuned], test, baseline=0)
    report
    """),
    md("""
    ## The published shape

    F1 for each model, and how much shorter each model's answers are than the base model's.
    """),
    code("""
    f1 = {name: report.mean("token_f1", name) for name in report.model_keys}
    shorter = report.usage_of(tuned.name).output_tokens_shorter_pct
    for name, value in f1.items():
        print(f"{name:>20}: token F1 {100 * value:5.1f}, "
              f"{report.usage_of(name).mean_output_tokens:5.1f} output tokens")
    print(f"fine-tuned Haiku answers are {shorter:.0f}% shorter than base Haiku's"
          + (" (emulated models)" if OFFLINE else ""))
    """),
    md("""
    ## Clean up

    The deployment went away with the `with` block. A custom model is billed for storage every month until it
    is deleted, so delete it when you are done with it.
    """),
    code("""
    def still_there(deployment):
        return any(d.id == deployment.id and d.status.value not in ("deleting", "deleted")
                   for d in Deployment.list(backend=bedrock))


    print("Provisioned Throughput still there:", still_there(tuned))
    tuned_model.delete()
    print("custom model still there:", any(m.id == tuned_model.id for m in Model.list(backend=bedrock)))
    """),
    md("""
    ## Key result

    The last cell leaves the emulation (offline) and deletes the scratch folder, then checks the key result:
    the fine-tuned Haiku beats the base model on token F1 with shorter answers (offline, also the Sonnet order
    of the published result).
    """),
    code("""
    leftover = still_there(tuned)
    stack.close()
    assert job.status.value == "completed" and not leftover
    base_f1, sonnet_f1, tuned_f1 = f1[base.name], f1[sonnet.name], f1[tuned.name]
    assert tuned_f1 > base_f1 and shorter > 0, (base_f1, tuned_f1, shorter)
    if OFFLINE:  # the emulated models reproduce the published order
        assert base_f1 < sonnet_f1 < tuned_f1, f1
    print(f"RESULT: token F1 {100 * base_f1:.1f} (base) -> {100 * tuned_f1:.1f} (fine-tuned); "
          f"Claude 3.5 Sonnet {100 * sonnet_f1:.1f}; {shorter:.0f}% shorter")
    """),
]


# --- 03 Llama 3 8B on SageMaker JumpStart with AQuA-RAT, then into Bedrock ------------------------------

NB03: list[Cell] = [
    md("""
    # Llama 3 8B on SageMaker JumpStart with AQuA-RAT, then into Bedrock

    Fine-tune Meta Llama 3 8B with SageMaker JumpStart's own training script on AQuA-RAT (algebra word
    problems with a worked rationale and a lettered answer), follow the job, serve the result on a SageMaker
    endpoint, compare it with the base model, and import the trained weights into Amazon Bedrock (Custom
    Model Import) so the same model answers through Bedrock's runtime.

    > **How it runs.** Without AWS credentials (or with `FINETUNE_SDK_OFFLINE=1`) SageMaker and Bedrock are
    > emulated in-process (`SageMakerEmulation` and `BedrockEmulation` share one moto account and one fake clock);
    > endpoint and model answers are **scripted** (next cells), so offline accuracy numbers come from emulated
    > models. With credentials the same cells run in your account, in `us-east-1`: a `ml.g5.12xlarge` training
    > job, two `ml.g5.2xlarge` endpoints while the comparison runs, and a Bedrock import, all billed.
    """),
    setup("03", """
    from finetune_sdk import Dataset, Evaluator, Job, Model, backends

    REGION = "us-east-1"
    LLAMA = "meta-textgeneration-llama-3-8b"  # the JumpStart hub id
    """, FIND_DATASETS, """

    if OFFLINE:
        from finetune_sdk.testing import BedrockEmulation, FakeClock
        from finetune_sdk.testing.sagemaker import SageMakerEmulation

        clock = FakeClock()  # one clock for both services: waiting is instant
        # the scripted answers come from `endpoint_answer` and `bedrock_answer`, defined in the next cell
        aws = stack.enter_context(BedrockEmulation(
            region=REGION, clock=clock,
            responder=lambda model_id, system, messages: bedrock_answer(model_id, messages)))
        sm = stack.enter_context(SageMakerEmulation(
            session=aws.session, clock=clock,
            responder=lambda endpoint, body: endpoint_answer(endpoint, body)))
        sagemaker, bedrock = sm.backend(), aws.backend()
    else:
        session = boto3.Session(region_name=REGION)
        # one role trusted by sagemaker.amazonaws.com and bedrock.amazonaws.com, or a separate SageMaker role
        sagemaker = backends.get("sagemaker", session=session, region=REGION,
                                 role_arn=os.environ.get("FINETUNE_SDK_SAGEMAKER_ROLE_ARN")
                                 or os.environ["FINETUNE_SDK_ROLE_ARN"],
                                 output_uri=os.environ["FINETUNE_SDK_OUTPUT_URI"])
        bedrock = backends.get("bedrock", session=session, region=REGION,
                               role_arn=os.environ["FINETUNE_SDK_ROLE_ARN"],
                               output_uri=os.environ["FINETUNE_SDK_OUTPUT_URI"])
    print("mode:", "OFFLINE (SageMaker + Bedrock emulation, scripted answers)" if OFFLINE
          else f"REAL AWS ({REGION})")
    """),
    md("""
    ### Offline only: the emulated models

    Answers follow the AQuA-RAT answer key: the base Llama picks the right letter for 30% of the questions
    (chance is 20%), the fine-tuned one for 60%, and the imported copy answers exactly as the fine-tuned
    endpoint does (same weights). With AWS credentials this cell is unused.
    """),
    code(join("""
    import functools
    import hashlib
    import re


    @functools.cache
    def answer_key() -> dict[str, str]:
        records = [r for f in ("dev.json", "test.json") for r in Dataset.from_aqua(DATASETS / "aqua" / f)]
        return {r.prompt_text: r.metadata["answer"] for r in records}

    """, DRAW, """


    def letter(who: str, question: str) -> str:
        right = answer_key().get(question.strip(), "A")
        if draw(who, question) < {"base": 0.30, "tuned": 0.60}[who]:
            return right
        return "ABCDE"[("ABCDE".index(right) + 1 + int(draw("wrong", question) * 4)) % 5]


    def question_of(body: dict) -> str:
        \"\"\"The user's question in an endpoint request (TGI prompt, or OpenAI-style messages).\"\"\"
        if "messages" in body:
            return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        prompt = body.get("inputs", "")
        found = re.findall(r"### Instruction:\\n(.*?)\\n\\n###", prompt, flags=re.S) or re.findall(
            r"<\\|start_header_id\\|>user<\\|end_header_id\\|>\\n\\n(.*?)<\\|eot_id\\|>", prompt, flags=re.S)
        return found[-1] if found else prompt


    def endpoint_answer(endpoint: str, body: dict) -> list[dict]:
        who = "tuned" if "aqua" in endpoint else "base"
        text = f"Let me work through it step by step.\\nAnswer: {letter(who, question_of(body))}"
        details = {"finish_reason": "eos_token", "generated_tokens": len(text) // 4}
        return [{"generated_text": text, "details": details}]  # what a TGI container answers


    def bedrock_answer(model_id: str, messages: list[dict]) -> str:
        question = "".join(block.get("text", "") for block in messages[-1]["content"])
        return f"Let me work through it step by step.\\nAnswer: {letter('tuned', question)}"
    """)),
    md("""
    ## Data in JumpStart's instruction format

    `Dataset.from_aqua` turns each problem into a conversation: the question with its lettered options, then
    the rationale ending in `Answer: X`. JumpStart's Llama script trains on `{"instruction", "context",
    "response"}` lines plus a `template.json` that says how to build the prompt; `to_jsonl(format=
    "jumpstart_instruction")` writes both (and says what the format could not hold). `Job.fine_tune` does the
    same when it stages the data, so this is only to look at them.
    """),
    code("""
    train = Dataset.from_aqua(DATASETS / "aqua" / "dev.json")
    test = Dataset.from_aqua(DATASETS / "aqua" / "test.json").head(40)
    print(train[0].prompt_text, "\\n---\\n", train[0].reference)

    print(train.to_jsonl(WORKDIR / "aqua" / "train.jsonl", format="jumpstart_instruction"))
    print((WORKDIR / "aqua" / "template.json").read_text())
    print((WORKDIR / "aqua" / "train.jsonl").read_text().splitlines()[0][:300], "...")
    """),
    md("""
    ## EULA and typed hyperparameters

    Meta Llama is a gated model: its weights come under the Llama Community License, and JumpStart needs the
    acceptance in the request. Without `accept_eula=True` the SDK refuses before anything is sent, and says
    how to fix it. `JumpStartLlamaHyperparameters` holds the script's own names with their ranges.
    """),
    code("""
    from finetune_sdk.backends.sagemaker import JumpStartLlamaHyperparameters, SageMakerOptions
    from finetune_sdk.errors import ConfigurationError

    hyperparameters = JumpStartLlamaHyperparameters(epoch=3, learning_rate=1e-4, lora_r=16,
                                                    instruction_tuned=True)
    print(hyperparameters.to_service())
    try:
        Job.fine_tune(model=LLAMA, train=train, hyperparameters=hyperparameters, backend=sagemaker)
    except ConfigurationError as exc:
        print("refused:", exc)
    """),
    md("""
    ## The job's lifecycle

    With the licence accepted the job starts. `refresh()` shows SageMaker's secondary status (Starting,
    Downloading, Training, Uploading); `wait()` follows it to the end; `metrics()` reads the loss lines the
    training script logs to CloudWatch. `Job.attach(id)` gets a handle back in another process or after a
    crash.
    """),
    code("""
    job = Job.fine_tune(model=LLAMA, train=train, hyperparameters=hyperparameters, backend=sagemaker,
                        backend_options=SageMakerOptions(accept_eula=True, instance_type="ml.g5.12xlarge"))
    print(job.status, job.refresh().record.stages)
    job.wait()
    print(job.status, job.record.stages)
    print("attached again:", Job.attach(job.id, backend=sagemaker).status)
    """),
    code("""
    %matplotlib inline
    print(job.metrics())
    job.plot_metrics()
    """),
    md("""
    ## Endpoints: base vs fine-tuned

    A SageMaker model is served from an endpoint. The `with` statement creates one for each model and, on
    exit, deletes each endpoint with its configuration and model, even if the comparison fails. The
    fine-tuned endpoint is prompted with the instruction template it was trained on. Accuracy is the chosen
    option letter against the answer key (chance is 20%).
    """),
    code("""
    from finetune_sdk.backends.sagemaker import SageMakerEndpointOptions

    base = Model.foundation(LLAMA, backend=sagemaker)
    tuned_model = job.model
    evaluator = Evaluator(["accuracy", "output_tokens"], concurrency=4)
    with (
        base.deploy(name="llama3-8b-base", instance_type="ml.g5.2xlarge",
                    backend_options=SageMakerEndpointOptions(accept_eula=True)) as base_endpoint,
        tuned_model.deploy(name="llama3-8b-aqua", instance_type="ml.g5.2xlarge") as tuned_endpoint,
    ):
        print(tuned_endpoint.invoke(test[0].prompt_text).text)
        report = evaluator.compare([base_endpoint, tuned_endpoint], test)
    report
    """),
    md("""
    ## Export to Bedrock

    `export_to_bedrock` checks that the job wrote full, uncompressed Hugging Face weights (not only a LoRA
    adapter), runs Bedrock's import pre-flight, and starts a Custom Model Import job. The imported model is
    then invoked on demand through Bedrock's runtime, like any Bedrock model.
    """),
    code("""
    imported = sagemaker.export_to_bedrock(job.id, bedrock_backend=bedrock,
                                           imported_model_name="llama3-8b-aqua")
    imported.wait()
    imported_model = imported.model
    print(imported_model)
    print(imported_model.invoke(test[0].prompt_text).text)
    on_bedrock = Evaluator(["accuracy"], concurrency=4).evaluate(imported_model, test)
    on_bedrock
    """),
    md("""
    ## Key result

    The last cell deletes the imported model, leaves the emulations (offline) and deletes the scratch folder,
    then checks the key result: the fine-tuned model beats the base model, and the copy in Bedrock answers
    like the endpoint it came from.
    """),
    code("""
    base_acc = report.mean("accuracy", base_endpoint.name)
    tuned_acc = report.mean("accuracy", tuned_endpoint.name)
    bedrock_acc = on_bedrock.mean("accuracy")
    imported_model.delete()
    stack.close()
    assert job.status.value == "completed" and imported.status.value == "completed"
    assert tuned_acc > base_acc and tuned_acc > 0.2, (base_acc, tuned_acc)
    assert abs(bedrock_acc - tuned_acc) <= 0.1, (bedrock_acc, tuned_acc)
    print(f"RESULT: AQuA accuracy {base_acc:.2f} (base) -> {tuned_acc:.2f} (fine-tuned on SageMaker); "
          f"{bedrock_acc:.2f} after import into Bedrock")
    """),
]


# --- 04 distillation from invocation logs ----------------------------------------------------------------

NB04: list[Cell] = [
    md("""
    # Distillation from production invocation logs

    A help-centre assistant runs on Amazon Nova Pro, and Bedrock's model invocation logging writes every
    request and answer to S3, with request metadata (`project`, `stage`). This notebook turns those logs into
    a cheaper Nova Micro student in two ways:

    1. **Bedrock-native distillation**: the job reads the logs itself, filtered by metadata, and Bedrock
       invokes the teacher (Nova Pro → Nova Micro);
    2. **Teacher generation + quality gate + fine-tuning**: the SDK reads the prompts from the logs, has the
       teacher answer them, filters the answers, and fine-tunes the student on what passed.

    Each ends with a three-way evaluation: student base, student, teacher, with quality, tokens and cost.

    > **How it runs.** Without AWS credentials (or with `FINETUNE_SDK_OFFLINE=1`) Bedrock and S3 are emulated
    > and the models' answers are **scripted** (next cells), so the scores come from emulated models (and the
    > two students, being the same emulated model, score the same). With credentials it runs in `us-east-1`:
    > set `FINETUNE_SDK_LOGS_URI` to your invocation-log prefix (the synthetic logs below are written only
    > offline), and expect to pay for the teacher calls, two training jobs and Provisioned Throughput while
    > the students are evaluated.
    """),
    setup("04", """
    from finetune_sdk import Distiller, Evaluator, InvocationLogSource, MetadataFilter, backends

    REGION = "us-east-1"  # Nova distillation runs here
    TEACHER, STUDENT = "us.amazon.nova-pro-v1:0", "amazon.nova-micro-v1:0:128k"

    if OFFLINE:
        from finetune_sdk.testing import BedrockEmulation

        # the scripted answers come from `emulated_answer`, defined in the next cell
        aws = stack.enter_context(BedrockEmulation(
            region=REGION, responder=lambda model_id, system, messages: emulated_answer(model_id, messages)))
        bedrock = aws.backend()
        LOGS_URI = f"s3://{aws.bucket}/bedrock-invocation-logs"
    else:
        bedrock = backends.get("bedrock", session=boto3.Session(region_name=REGION), region=REGION,
                               role_arn=os.environ["FINETUNE_SDK_ROLE_ARN"],
                               output_uri=os.environ["FINETUNE_SDK_OUTPUT_URI"])
        LOGS_URI = os.environ["FINETUNE_SDK_LOGS_URI"]
    print("mode:", "OFFLINE (BedrockEmulation, scripted answers)" if OFFLINE else f"REAL AWS ({REGION})")
    """, required=(*REQUIRED, "FINETUNE_SDK_LOGS_URI")),
    md("""
    ### Offline only: the help centre and its emulated models

    Eight help-centre topics, each with its right answer. Nova Pro (the teacher) answers with a friendly
    opener and declines 6% of the time; base Nova Micro gives a vague answer 70% of the time; a student
    trained on the teacher's answers answers like the teacher 92% of the time. The logs written here are
    200 `prod` and 60 `dev` requests of project `helpdesk` (the answers logged are the teacher's), plus 40
    of another project. With AWS credentials this cell is unused.
    """),
    code(join("""
    import hashlib

    FAQ = {
        "reset my password": "Open Settings > Security, choose Reset password and follow the emailed link.",
        "change my billing address": "Go to Account > Billing, edit the address and save it.",
        "cancel my subscription": "Open Account > Plan and choose Cancel; access lasts to the period's end.",
        "download an invoice": "Go to Account > Billing > Invoices and choose Download PDF.",
        "add a team member": "Open Team > Members, choose Invite and enter their email address.",
        "turn on two-factor sign-in": "Open Settings > Security, turn on Two-factor and scan the QR code.",
        "export my data": "Go to Settings > Privacy and choose Export data; a link arrives within an hour.",
        "update my payment card": "Go to Account > Billing > Payment methods and add the new card.",
    }
    ASKS = ["How do I {}?", "How can I {}?", "What's the way to {}?", "I need to {}. How?",
            "Can you tell me how to {}?"]
    SYSTEM = "You are the help-centre assistant of Acme Cloud. Answer in one or two sentences."


    def question(i: int) -> tuple[str, str]:
        topic = list(FAQ)[i % len(FAQ)]
        return f"{ASKS[(i // len(FAQ)) % len(ASKS)].format(topic)} (ticket {1000 + i})", topic

    """, DRAW, """


    def emulated_answer(model_id: str, messages: list[dict]) -> str:
        asked = "".join(block.get("text", "") for block in messages[-1]["content"])
        topic = next((t for t in FAQ if t in asked), None)
        if topic is None:
            return "I'm not sure."
        if "nova-pro" in model_id:  # the teacher
            return "I'm sorry, I can't help." if draw("t", asked) < 0.06 else f"Happy to help! {FAQ[topic]}"
        if "custom-model" in model_id:  # a student trained on the teacher's answers
            return f"Happy to help! {FAQ[topic]}" if draw("s", asked) < 0.92 else "Please contact support."
        return "Please check the documentation or contact support." if draw("b", asked) < 0.7 else FAQ[topic]


    if OFFLINE:
        def log_rows(numbers, project, stage):
            return [{"prompt": question(i)[0], "response": f"Happy to help! {FAQ[question(i)[1]]}",
                     "model_id": "amazon.nova-pro-v1:0", "system": SYSTEM,
                     "metadata": {"project": project, "stage": stage}} for i in numbers]

        bucket, prefix = LOGS_URI[5:].split("/", 1)
        aws.put_invocation_logs(bucket, prefix, log_rows(range(200), "helpdesk", "prod"))
        aws.put_invocation_logs(bucket, prefix, log_rows(range(200, 260), "helpdesk", "dev"))
        aws.put_invocation_logs(bucket, prefix, log_rows(range(260, 300), "search", "prod"))
    """)),
    md("""
    ## From invocation logs to prompts

    A metadata filter keeps the production traffic of one project: that is what the student learns from.
    `prompts_from_logs` reads the logs with the same filter locally, so you can see what a job would train on
    (the read report says what was left out and why). The test set is traffic the student never trains on,
    the project's `dev` stage, read with the answers production gave (`use_responses=True`) as references:
    the scores say how close each model comes to the production teacher. With your own logs, change the
    metadata keys here.
    """),
    code("""
    from finetune_sdk.distillation import QualityGate, prompts_from_logs

    production = MetadataFilter.all_of(project="helpdesk", stage="prod")  # what the student learns from
    held_out = MetadataFilter.all_of(project="helpdesk", stage="dev")  # never trained on: the test set
    prompts = prompts_from_logs(LOGS_URI, session=bedrock.session, metadata_filter=production)
    print("training prompts:", prompts.last_report)
    print(prompts[0].system, "|", prompts[0].prompt_text)

    logged = prompts_from_logs(LOGS_URI, session=bedrock.session, metadata_filter=held_out, use_responses=True)
    print("test set:", logged.last_report)
    test = logged.head(40)
    print(test[0].prompt_text, "->", test[0].reference)
    evaluator = Evaluator(["token_f1", "output_tokens", "cost_usd"], concurrency=4)
    """),
    md("""
    ## 1. Bedrock-native distillation (Nova Pro → Nova Micro)

    `Distiller.plan()` shows what a run would do and checks that Bedrock can distil this teacher into this
    student in this Region, sending nothing. `run()` submits the distillation job straight from the logs (with
    the metadata filter), waits, deploys the student on Provisioned Throughput for the evaluation and deletes
    it afterwards. Every finished stage is kept in `workdir`: rerunning resumes instead of paying twice.
    """),
    code("""
    logs = InvocationLogSource(s3_uri=LOGS_URI, filter=production)
    native = Distiller(teacher=TEACHER, student=STUDENT, backend=bedrock, evaluator=evaluator,
                       workdir=WORKDIR / "native")
    print(native.plan(logs).to_markdown())
    """),
    code("""
    native_result = native.run(logs, test=test, deploy=True, max_response_length=512)
    native_result
    """),
    md("""
    ## 2. Teacher generation + quality gate + fine-tuning

    The same prompts, handled by the SDK: the teacher answers each one (concurrently, with a checkpoint so an
    interrupted run does not pay twice), the quality gate drops failed, truncated, too short and duplicate
    answers and any prompt that leaks into the test set, and the student is fine-tuned on what passed.
    """),
    code("""
    gate = QualityGate(min_response_chars=40, dedupe=True, leakage=True)
    generated = Distiller(teacher=TEACHER, student=STUDENT, backend=bedrock, evaluator=evaluator, gate=gate,
                          workdir=WORKDIR / "generated")
    print(generated.plan(prompts, test=test).to_markdown())
    """),
    code("""
    generated_result = generated.run(prompts, test=test, deploy=True, hyperparameters={"epochCount": 2})
    print(generated_result.gate.to_markdown())
    generated_result
    """),
    md("""
    ## Three-way evaluation

    Each run compared the student's base model (the baseline), the student and the teacher on the test set.
    """),
    code("""
    runs = {"native distillation": native_result, "generation + gate + fine-tuning": generated_result}
    for label, result in runs.items():
        print(f"## {label}")
        for row in result.side_by_side():
            print(f"{row['model']:>13}: token F1 {row['token_f1']:.3f}, "
                  f"{row['mean_output_tokens']:.1f} output tokens, "
                  f"${row['cost_per_1k_requests'] or 0:.4f} per 1,000 requests")
    """),
    md("""
    ## Key result

    The last cell leaves the emulation (offline) and deletes the scratch folder, then checks that both
    students beat their base model and cost less per request than the teacher.
    """),
    code("""
    rows = {label: {r["model"]: r for r in result.side_by_side()}
            for label, result in (("native", native_result), ("generated", generated_result))}
    stack.close()
    for label, row in rows.items():
        assert row["student"]["token_f1"] > row["student base"]["token_f1"], label
        assert row["student"]["cost_per_1k_requests"] < row["teacher"]["cost_per_1k_requests"], label
    if OFFLINE:  # the emulated teacher declines 6% of the prompts; the gate drops those answers
        assert generated_result.gate.output_records < len(prompts)
    print("RESULT: token F1 student base -> student (teacher): " + "; ".join(
        f"{label} {row['student base']['token_f1']:.2f} -> {row['student']['token_f1']:.2f} "
        f"({row['teacher']['token_f1']:.2f})" for label, row in rows.items()))
    """),
]


# --- 05 continued pre-training ----------------------------------------------------------------------------

NB05: list[Cell] = [
    md("""
    # Continued pre-training on domain text

    Continued pre-training teaches a model a domain's language from unlabelled text, before (or instead of)
    fine-tuning on questions and answers. The text here is the paragraphs of company annual reports in TAT-QA.
    The same data goes to two backends:

    1. **Amazon Titan Text G1 - Express on Bedrock** (`CONTINUED_PRE_TRAINING` job, Provisioned Throughput to
       invoke the result);
    2. **the local backend**: the same `Job.continue_pretraining` call on a tiny Llama built on this machine,
       where the validation loss shows the model learning the text.

    > **How it runs.** Without AWS credentials (or with `FINETUNE_SDK_OFFLINE=1`) Bedrock is emulated and the
    > Titan models' answers are **scripted**; the local part trains for real either way. With credentials the
    > Bedrock part runs in `us-east-1` and costs money (training plus Provisioned Throughput by the hour).
    """),
    setup("05", """
    import json

    from finetune_sdk import Dataset, Job, Model, backends

    REGION = "us-east-1"
    TITAN = "amazon.titan-text-express-v1:0:8k"
    """, FIND_DATASETS, """

    if OFFLINE:
        from finetune_sdk.testing import BedrockEmulation


        def emulated_answer(model_id, system, messages):
            \"\"\"Offline only: scripted Titan answers (no model runs).\"\"\"
            if "custom-model" in model_id:
                return ("Net sales increased year over year, driven mainly by fixed-price contracts, while "
                        "operating expenses as a percentage of net sales decreased.")
            return "it went up."

        aws = stack.enter_context(BedrockEmulation(region=REGION, responder=emulated_answer))
        bedrock = aws.backend()
    else:
        bedrock = backends.get("bedrock", session=boto3.Session(region_name=REGION), region=REGION,
                               role_arn=os.environ["FINETUNE_SDK_ROLE_ARN"],
                               output_uri=os.environ["FINETUNE_SDK_OUTPUT_URI"])
    local = backends.get("local", root=str(WORKDIR / "runs"), device="cpu")  # trains for real in both modes
    print("mode:", "OFFLINE (BedrockEmulation, scripted answers)" if OFFLINE else f"REAL AWS ({REGION})")
    """),
    md("""
    ## Unlabelled text

    Continued pre-training takes `{"input": "..."}` records: text only, no answers. The distinct paragraphs of
    the TAT-QA dev reports make a small financial corpus.
    """),
    code("""
    contexts = json.loads((DATASETS / "tatqa" / "tatqa_dataset_dev.json").read_text(encoding="utf-8"))
    paragraphs = sorted({p["text"].strip() for c in contexts for p in c["paragraphs"]
                         if len(p["text"]) > 200 and "&amp;" not in p["text"]})  # 2 have HTML debris
    corpus = Dataset.from_records([{"input": text} for text in paragraphs])
    parts = corpus.split({"train": 0.9, "validation": 0.1}, seed=3)
    print(f"{len(corpus)} paragraphs; train {len(parts.train)}, validation {len(parts.validation)}")
    print(corpus[0].text[:300], "...")
    """),
    md("""
    ## Validate for Titan Text Express

    Continued pre-training uses the `text` format; the catalog knows Titan's limits (tokens per record, file
    sizes) and prices, so the check and the estimate come before anything is uploaded.
    """),
    code("""
    report = parts.train.validate(for_model=TITAN, format="text", validation=parts.validation)
    report.raise_for_errors()
    print(report.summary())
    parts.train.stats(for_model=TITAN, epochs=2)
    """),
    md("""
    ## 1. Continued pre-training on Bedrock

    The same handle as fine-tuning, with `Job.continue_pretraining`. Titan's typed hyperparameters check their
    ranges; `max_cost` refuses to submit above a budget.
    """),
    code("""
    from finetune_sdk.hyperparameters import TitanTextHyperparameters

    titan_job = Job.continue_pretraining(
        model=TITAN, train=parts.train, validation=parts.validation, backend=bedrock, max_cost=40.0,
        hyperparameters=TitanTextHyperparameters(epoch_count=2, batch_size=8, learning_rate=1e-5,
                                                 learning_rate_warmup_steps=5),
    )
    print(titan_job.kind, "-", titan_job.estimate_cost())
    titan_job.wait()
    """),
    code("""
    %matplotlib inline
    titan_job.plot_metrics()
    """),
    md("""
    A customised Titan model is invoked through Provisioned Throughput; the `with` block deletes it on exit.
    `max_hourly_cost` refuses to create it above a budget.
    """),
    code("""
    prompt = "Summarise the change in revenue and operating expenses for fiscal 2019:"
    base_titan = Model.foundation(TITAN, backend=bedrock)  # the catalog id; invoked by its runtime id
    print("base:   ", base_titan.invoke(prompt).text)
    with titan_job.model.deploy(name="titan-reports", model_units=1, max_hourly_cost=25.0) as adapted:
        print("cost:   ", adapted.estimate_cost(hours=1))
        print("adapted:", adapted.invoke(prompt).text)
    titan_job.model.delete()
    """),
    md("""
    ## 2. The same on the local backend

    A tiny Llama built on this machine takes the same kind of records (a slice of them, to keep this quick on
    a CPU). Continued pre-training learns every token and packs the text into fixed-length blocks; with a
    model this small, full fine-tuning (`"method": "full"`) is cheap and learns faster than LoRA. The
    validation loss, in nats per byte, is measured every few steps: its fall is the model learning the
    reports' language (a uniform guess over the byte vocabulary scores ln 262 ≈ 5.6).
    """),
    code("""
    from finetune_sdk.backends.local import build_tiny_model

    tiny = build_tiny_model(WORKDIR / "tiny-llama", preset="tiny", seed=0)
    local_job = Job.continue_pretraining(
        model=str(tiny), train=parts.train.head(150), validation=parts.validation.head(20), backend=local,
        hyperparameters={"method": "full", "epochCount": 1, "batchSize": 8, "learningRate": 0.003,
                         "maxSequenceLength": 256, "evalEverySteps": 6, "logEverySteps": 2, "seed": 3},
    )
    local_job.wait()
    local_job.plot_metrics()
    """),
    code("""
    validation = local_job.metrics().dropna(subset=["validation_loss"])
    validation[["step", "validation_loss"]]
    """),
    md("""
    ## Key result

    The last cell leaves the emulation (offline) and deletes the scratch folder, then checks that both jobs
    completed as continued pre-training and that the local model's validation loss fell.
    """),
    code("""
    first, last = validation["validation_loss"].iloc[0], validation["validation_loss"].iloc[-1]
    titan_losses = titan_job.metrics()["training_loss"].dropna()
    sent = aws.calls("CreateModelCustomizationJob") if OFFLINE else []
    stack.close()
    assert titan_job.status.value == "completed" and local_job.status.value == "completed"
    assert titan_job.kind.value == local_job.kind.value == "continued_pre_training"
    assert titan_losses.iloc[-1] < titan_losses.iloc[0]
    assert all(r["customizationType"] == "CONTINUED_PRE_TRAINING" for r in sent)
    assert last < first - 0.05, (first, last)
    print(f"RESULT: local validation loss {first:.3f} -> {last:.3f} per byte; Titan training loss "
          f"{titan_losses.iloc[0]:.3f} -> {titan_losses.iloc[-1]:.3f}")
    """),
]


# --- 06 a custom backend ----------------------------------------------------------------------------------

NB06: list[Cell] = [
    md("""
    # Writing a custom backend

    `Job`, `Model`, `Deployment` and the `Evaluator` never reach past the backend protocol, so anything that
    implements it (your company's training service, a research cluster, a mock) gets the whole SDK:
    validation, typed hyperparameters, idempotent jobs, waiting, metrics, evaluation. This notebook writes a
    small backend, registers it, uses it through the public handles, and proves it with the conformance
    suite every backend runs.

    The backend is a toy: "fine-tuning" memorises the training pairs, and the tuned model answers with the
    completion of the most similar training prompt (word overlap). Jobs take a couple of seconds of clock
    time.
    """),
    local_setup("06", "The custom backend lives in memory in this notebook; it never calls AWS.", """
    from finetune_sdk import Dataset, Evaluator, Job, Model, backends, register_backend
    """),
    md("""
    ## The backend

    A backend subclasses `Backend` (jobs and models) and optional capability mixins (`CanInvoke` for `chat`,
    `CanDeploy`, `CanBatchInfer`). It receives validated specs and returns records, and raises the SDK's
    errors (`ResourceNotFoundError`, `UnsupportedOperationError`...). Three rules matter most: `submit_job` is
    idempotent (the same spec returns the same job: `spec.client_token()` is made for this), time comes from
    `self.clock` (so tests can use a fake one), and `list_jobs` returns the newest job first.
    """),
    code("""
    import itertools
    import math
    import re
    from collections import Counter
    from collections.abc import Iterator
    from dataclasses import dataclass

    from finetune_sdk import ChatResponse, InferenceConfig, JobKind, JobStatus
    from finetune_sdk.backends.base import Backend, CanInvoke, JobRecord, JobSpec, MetricPoint, ModelRecord
    from finetune_sdk.catalog import HyperparameterSpec
    from finetune_sdk.errors import ResourceNotFoundError, UnsupportedOperationError


    def words(text: str) -> Counter:
        return Counter(re.findall(r"[a-z0-9]+", text.lower()))


    @dataclass
    class _Run:
        record: JobRecord
        started: float
        examples: list[tuple[str, str]]
        stopping: bool = False
        failure: str | None = None


    class NearestNeighbourBackend(Backend, CanInvoke):
        \"\"\"Fine-tuning memorises (prompt, completion) pairs; a tuned model answers with the nearest.\"\"\"

        name = "nearest"
        supported_kinds = frozenset({JobKind.FINE_TUNING})
        default_poll_interval = 0.5

        def __init__(self, *, clock=None, job_seconds: float = 2.0) -> None:
            super().__init__(clock=clock)
            self.job_seconds = job_seconds
            self._staged: dict[str, list[tuple[str, str]]] = {}
            self._runs: dict[str, _Run] = {}
            self._by_token: dict[str, str] = {}
            self._models: dict[str, ModelRecord] = {}
            self._ids = itertools.count(1)

        # --- data and hyperparameters
        def stage_data(self, dataset, *, name, format, output_uri) -> str:
            self._staged[f"memory://{name}"] = [(r.prompt_text, r.reference or "") for r in dataset]
            return f"memory://{name}"

        def hyperparameter_schema(self, base_model, kind):
            return [HyperparameterSpec(name="epochCount", type="int", min=1, max=10, default=1,
                                       description="passes over the data (shapes the loss curve)")]

        # --- jobs
        def submit_job(self, spec: JobSpec) -> JobRecord:
            if spec.kind not in self.supported_kinds:
                raise UnsupportedOperationError(f"{self.name!r} only fine-tunes, not {spec.kind.value}")
            token = spec.client_token()
            if token in self._by_token:  # idempotent: the same spec is the same job
                return self.describe_job(self._by_token[token])
            job_id = f"nn-job-{next(self._ids):04d}"
            now = self.clock.now()
            record = JobRecord(
                id=job_id, name=spec.name, backend=self.name, kind=spec.kind, status=JobStatus.RUNNING,
                raw_status="memorising", base_model=spec.base_model, output_model_name=spec.output_model_name,
                created_at=now, updated_at=now, progress=0.0,
                raw={"epochs": int(spec.hyperparameters.get("epochCount", 1))},
            )
            examples = self._staged.get(spec.training_data or "", [])
            self._runs[job_id] = _Run(record, self.clock.monotonic(), examples)
            self._by_token[token] = job_id
            return record

        def _run(self, job_id: str) -> _Run:
            run = self._runs.get(job_id) or next(
                (r for r in self._runs.values() if r.record.name == job_id), None)
            if run is None:
                raise ResourceNotFoundError(f"no job {job_id!r} on the {self.name!r} backend")
            return run

        def _advance(self, run: _Run) -> JobRecord:
            record = run.record
            if record.status.is_terminal:
                return record
            elapsed = self.clock.monotonic() - run.started
            if run.failure is not None:
                change = {"status": JobStatus.FAILED, "raw_status": "failed", "failure_message": run.failure}
            elif run.stopping:
                change = {"status": JobStatus.STOPPED, "raw_status": "stopped"}
            elif elapsed >= self.job_seconds:
                model_id = record.id.replace("job", "model")
                self._models[model_id] = ModelRecord(
                    id=model_id, name=record.output_model_name or model_id, backend=self.name, kind="custom",
                    base_model=record.base_model, job_id=record.id, raw={"examples": run.examples})
                change = {"status": JobStatus.COMPLETED, "raw_status": "completed",
                          "output_model_id": model_id, "progress": 1.0}
            else:
                change = {"progress": round(elapsed / self.job_seconds, 3)}
            if "status" in change:
                change["ended_at"] = self.clock.now()
            run.record = record.model_copy(update={**change, "updated_at": self.clock.now()})
            return run.record

        def describe_job(self, job_id: str) -> JobRecord:
            return self._advance(self._run(job_id))

        def stop_job(self, job_id: str) -> None:
            run = self._run(job_id)
            if not self._advance(run).status.is_terminal:
                run.stopping = True

        def fail_job(self, job_id: str, message: str) -> None:
            \"\"\"Test hook: the job fails with `message` (the conformance suite uses it).\"\"\"
            self._run(job_id).failure = message

        def list_jobs(self, *, status=None, name_contains=None) -> Iterator[JobRecord]:
            for run in reversed(list(self._runs.values())):  # newest first
                record = self._advance(run)
                if (status is None or record.status is status) and (name_contains or "") in record.name:
                    yield record

        def job_metrics(self, job_id: str) -> list[MetricPoint]:
            record = self.describe_job(job_id)
            steps = 10 * int(record.raw.get("epochs", 1)) if record.status is JobStatus.COMPLETED else 0
            return [MetricPoint(step=s, epoch=s / 10, training_loss=round(0.1 + 2 * math.exp(-s / 5), 4))
                    for s in range(1, steps + 1)]

        # --- models
        def foundation_model(self, model_id: str) -> ModelRecord:
            return ModelRecord(id=model_id, name=model_id, backend=self.name, kind="foundation",
                               base_model=model_id)

        def describe_model(self, model_id: str) -> ModelRecord:
            found = self._models.get(model_id) or next(
                (m for m in self._models.values() if m.name == model_id), None)
            if found is None:
                raise ResourceNotFoundError(f"no model {model_id!r} on the {self.name!r} backend")
            return found

        def list_models(self) -> Iterator[ModelRecord]:
            return iter(list(self._models.values()))

        def delete_model(self, model_id: str) -> None:
            del self._models[self.describe_model(model_id).id]

        # --- inference (CanInvoke)
        def chat(self, model_id: str, *, system, turns, config: InferenceConfig) -> ChatResponse:
            asked = words(turns[-1].text)
            model = self._models.get(model_id)
            if model is None:  # a base model that never saw any data
                answer = "I do not know."
            else:
                answer = max(model.raw["examples"], key=lambda ex: sum((asked & words(ex[0])).values()))[1]
            answer = " ".join(answer.split()[: config.max_tokens])
            return ChatResponse(text=answer, input_tokens=sum(asked.values()) + 1,
                                output_tokens=len(answer.split()), stop_reason="end_turn", model_id=model_id)
    """),
    md("""
    ## Register it

    `register_backend` makes it available by name in this process, next to the built-in ones; a package would
    declare it under the `finetune_sdk.backends` entry-point group instead. The capability matrix is derived
    from the class.
    """),
    code("""
    register_backend("nearest", NearestNeighbourBackend, replace=True)
    print(backends.available())
    print(backends.capability_matrix()["nearest"])
    nearest = backends.get("nearest")  # one instance: this backend keeps its state in memory
    """),
    md("""
    ## Use it through `Job` and `Model`

    Capitals of a few countries to learn, and a test set that asks differently. The hyperparameter schema the
    backend declared is enforced by `Job` before `submit_job` is called, and a job kind the backend does not
    support is refused with the list of backends that can run it.
    """),
    code("""
    from finetune_sdk.errors import HyperparameterError

    CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "Kenya": "Nairobi",
                "Peru": "Lima", "Canada": "Ottawa", "Egypt": "Cairo", "Norway": "Oslo", "Chile": "Santiago",
                "India": "New Delhi", "Poland": "Warsaw"}
    train = Dataset.from_records([{"prompt": f"What is the capital of {c}?", "completion": city}
                                  for c, city in CAPITALS.items()])
    test = Dataset.from_records([{"prompt": f"{c}: which city is its capital?", "completion": city}
                                 for c, city in CAPITALS.items()])

    try:
        Job.fine_tune(model="nn-base", train=train, backend=nearest, hyperparameters={"epochCount": 99})
    except HyperparameterError as exc:
        print("refused:", exc)
    try:
        Job.continue_pretraining(model="nn-base", train=train, backend=nearest)
    except UnsupportedOperationError as exc:
        print("refused:", exc)
    """),
    md("""
    With valid settings the job runs: `wait()` polls the backend's clock, submitting the same request again
    returns the same job, and `plot_metrics()` draws what `job_metrics` reports.
    """),
    code("""
    %matplotlib inline
    job = Job.fine_tune(model="nn-base", train=train, backend=nearest, hyperparameters={"epochCount": 2})
    job.wait()
    assert Job.fine_tune(model="nn-base", train=train, backend=nearest,
                         hyperparameters={"epochCount": 2}).id == job.id  # idempotent
    print(job.status, "-", job.model)
    job.plot_metrics()
    """),
    md("""
    The tuned model answers the reworded questions; the base model never saw any data. The Evaluator works
    with any backend's models.
    """),
    code("""
    base, tuned = Model.foundation("nn-base", backend=nearest), job.model
    print(tuned.chat("Norway: which city is its capital?").text)
    report = Evaluator(["exact_match"]).compare([base, tuned], test)
    report
    """),
    md("""
    ## Run the conformance suite

    `finetune_sdk.testing.conformance.BackendConformance` is the pytest suite the built-in backends pass. A
    backend joins by subclassing it and overriding the `backend` fixture (here with a `FakeClock`, so jobs end
    instantly). Gaps are declared in `known_gaps`, never hidden. The test module is written to the scratch
    folder and run with `pytest.main` in this process, where the backend is registered; tests of capabilities
    the backend lacks (deployments) are skipped.
    """),
    code("""
    import textwrap

    import pytest

    test_module = WORKDIR / "test_nearest_conformance.py"
    test_module.write_text(textwrap.dedent('''
        import pytest

        from finetune_sdk import backends
        from finetune_sdk.testing import BackendConformance, FakeClock


        class TestNearestNeighbourBackend(BackendConformance):
            @pytest.fixture
            def backend(self):
                return backends.get("nearest", clock=FakeClock())
    '''))
    here = os.getcwd()
    os.chdir(WORKDIR)  # pytest plugins that write next to the working directory write to the scratch folder
    try:
        exit_code = pytest.main(["-q", "-rs", "-p", "no:cacheprovider", "--rootdir", str(WORKDIR),
                                 str(test_module)])
    finally:
        os.chdir(here)
    print("pytest exit code:", int(exit_code))
    """),
    md("""
    ## Key result

    The last cell deletes the scratch folder and checks the key result: the conformance suite passed (exit
    code 0) and the backend's tuned model beats its base through the public handles.
    """),
    code("""
    base_em, tuned_em = report.mean("exact_match", "nn-base"), report.mean("exact_match", tuned.name)
    stack.close()
    assert exit_code == 0, f"the conformance suite failed (pytest exit code {int(exit_code)})"
    assert tuned_em > base_em, (base_em, tuned_em)
    print(f"RESULT: conformance suite passed; exact match {base_em:.2f} (base) -> {tuned_em:.2f} (tuned)")
    """),
]


NOTEBOOKS: dict[str, list[Cell]] = {
    "01_quickstart_local.ipynb": NB01,
    "02_claude_haiku_bedrock_tatqa.ipynb": NB02,
    "03_llama3_sagemaker_aqua_import.ipynb": NB03,
    "04_distillation_from_invocation_logs.ipynb": NB04,
    "05_continued_pretraining.ipynb": NB05,
    "06_custom_backend.ipynb": NB06,
}


def build(name: str, cells: Sequence[Cell]) -> str:
    """The notebook ``name`` as nbformat 4 JSON text: no outputs, stable cell ids, a trailing newline."""
    stem = name.split("_", 1)[0]
    built = []
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"nb{stem}-{i:02d}"
        built.append(cell)
    nb = new_notebook(
        cells=built,
        metadata={
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from its build")
    args = parser.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = build(name, cells)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run python notebooks/_build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
