"""Regenerates finetune_sdk/catalog/models.json. The JSON is the source of truth that ships;
this script only keeps the repeated parts (hyperparameter tables shared by a family) in one place.
Run: python tools/build_catalog.py"""
import json
from pathlib import Path

DOC = "https://docs.aws.amazon.com/bedrock/latest/userguide/"
PRICING = "https://aws.amazon.com/bedrock/pricing/"
PRICE_DATE = "2025-06-01"
DATE = "2026-12-03"
SUPPORTED = DOC + "custom-model-supported.html"  # the supported-models page (several versions were read)
DISTILL = DOC + "prequisites-model-distillation.html"
L405 = "meta.llama3-1-405b-instruct-v1:0"
L70 = ["meta.llama3-1-70b-instruct-v1:0", "us.meta.llama3-1-70b-instruct-v1:0"]  # on demand or profile
L33 = "us.meta.llama3-3-70b-instruct-v1:0"  # inference profile only

def hp(name, type_, lo, hi, default, desc):
    return {"name": name, "type": type_, "min": lo, "max": hi, "default": default, "description": desc}

CLAUDE_HP = [
    hp("epochCount", "int", 1, 10, 2, "Passes over the training data."),
    hp("batchSize", "int", 4, 256, 32, "Records per training step."),
    hp("learningRateMultiplier", "float", 0.1, 2.0, 1.0, "Multiplier on the base learning rate."),
    hp("earlyStoppingThreshold", "float", 0.0, 0.1, 0.001, "Minimum validation-loss improvement that counts as progress."),
    hp("earlyStoppingPatience", "int", 1, 10, 2, "Epochs without progress before training stops."),
]
LLAMA_HP = [
    hp("epochCount", "int", 1, 10, 5, "Passes over the training data (quota adjustable)."),
    hp("batchSize", "int", 1, 1, 1, "Records per training step."),
    hp("learningRate", "float", 5e-6, 0.1, 1e-4, "Learning rate."),
]
NOVA_HP = [
    hp("epochCount", "int", 1, 5, 2, "Passes over the training data (the service caps epochs at 5)."),
    hp("learningRate", "float", 1e-6, 1e-4, 1e-5, "Learning rate."),
    hp("learningRateWarmupSteps", "int", 0, 100, 10, "Warm-up steps. The Nova user guide says 0-20; the Bedrock page says 0-100."),
]
TITAN_LE_HP = [
    hp("epochCount", "int", 1, 10, 5, "Passes over the training data."),
    hp("batchSize", "int", 1, 64, 1, "Records per training step."),
    hp("learningRate", "float", 0.0, 1.0, 1e-5, "Learning rate."),
    hp("learningRateWarmupSteps", "int", 0, 250, 5, "Warm-up steps."),
]
TITAN_PREMIER_HP = [
    hp("epochCount", "int", 1, 5, 2, "Passes over the training data."),
    hp("batchSize", "int", 1, 1, 1, "Records per training step."),
    hp("learningRate", "float", 1e-7, 1e-5, 1e-6, "Learning rate."),
    hp("learningRateWarmupSteps", "int", 0, 20, 5, "Warm-up steps."),
]
def cohere_hp(max_batch):
    return [
        hp("epochCount", "int", 1, 100, 1, "Passes over the training data."),
        hp("batchSize", "int", 8, max_batch, 8, "Records per training step."),
        hp("learningRate", "float", 5e-6, 0.1, 1e-5, "Learning rate. With a validation set, AWS recommends leaving it unset."),
        hp("earlyStoppingThreshold", "float", 0.0, 0.1, 0.01, "Minimum validation-loss improvement."),
        hp("earlyStoppingPatience", "int", 1, 10, 6, "Evaluations without progress before stopping."),
        hp("evalPercentage", "float", 5.0, 50.0, 20.0, "Percent of training data held out when no validation set is given."),
    ]

NOVA_RESERVED = ["User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]"]
CLAUDE_RESERVED = ["\nHuman:", "\nAssistant:"]

def limits(**kw):
    base = {"min_train_records": None, "max_train_records": None, "min_validation_records": None,
            "max_validation_records": None, "max_total_records": None, "max_tokens_per_record": None,
            "max_input_tokens": None, "max_output_tokens": None, "max_train_file_bytes": None,
            "max_validation_file_bytes": None, "chars_per_token": 6.0, "supports_images": False,
            "supports_video": False, "max_images_per_record": 0, "max_videos_per_record": 0,
            "reserved_strings": [], "multi_turn": True, "single_system_block": False}
    base.update(kw)
    return base

def price(train=None, storage=1.95, inp=None, out=None, pt=None, note=""):
    return {"training_per_1k_tokens": train, "storage_per_month": storage, "input_per_1k_tokens": inp,
            "output_per_1k_tokens": out, "provisioned_per_hour_no_commit": pt, "currency": "USD",
            "date": PRICE_DATE, "source": PRICING,
            "note": note or "List prices in us-east-1/us-west-2 as published on the pricing page; check it before budgeting."}

GB = 1024 ** 3
MB = 1024 ** 2
models = []
def add(**m):
    m.setdefault("sources", [])
    m.setdefault("date", DATE)
    m.setdefault("distillation_teachers", [])
    m.setdefault("on_demand_deployment", False)
    m.setdefault("customizable", True)
    m.setdefault("unverified_customizations", [])
    m.setdefault("data_support", "built")
    m.setdefault("support_note", "")
    models.append(m)

add(id="anthropic.claude-3-haiku-20240307-v1:0:200k", runtime_id="anthropic.claude-3-haiku-20240307-v1:0",
    name="Claude 3 Haiku", provider="anthropic", family="claude-3-haiku", regions=["us-west-2"],
    customizations=["FINE_TUNING", "DISTILLATION"], format="bedrock_messages", invoke_body="anthropic_messages",
    limits=limits(min_train_records=32, max_train_records=10000, min_validation_records=32, max_validation_records=1000,
                  max_total_records=10000, max_tokens_per_record=32000, max_train_file_bytes=10 * GB,
                  max_validation_file_bytes=1 * GB, chars_per_token=3.0, reserved_strings=CLAUDE_RESERVED),
    hyperparameters=CLAUDE_HP, prices=price(train=0.004, inp=0.00025, out=0.00125, pt=None,
        note="Fine-tuned Claude 3 Haiku is served only through Provisioned Throughput; its hourly price is quoted per account."),
    distillation_teachers=["anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20241022-v2:0"],
    sources=[SUPPORTED, DOC + "cm-hp-anth-claude-3.html", DOC + "model-customization-prepare.html", DISTILL])

for size, label, tokens, records_max in [("8b", "8B", 16000, 10000), ("70b", "70B", 16000, 10000)]:
    add(id=f"meta.llama3-1-{size}-instruct-v1:0:128k", runtime_id=f"meta.llama3-1-{size}-instruct-v1:0",
        name=f"Llama 3.1 {label} Instruct", provider="meta", family="llama3", regions=["us-west-2"],
        customizations=["FINE_TUNING", "DISTILLATION"], format="prompt_completion", invoke_body="meta_llama",
        limits=limits(max_total_records=records_max, min_train_records=100, max_train_records=records_max,
                      max_validation_records=1000, max_tokens_per_record=tokens,
                      max_input_tokens=16000, max_output_tokens=16000, chars_per_token=4.0),
        hyperparameters=LLAMA_HP,
        prices=price(train=0.00149 if size == "8b" else 0.00799, inp=0.00022 if size == "8b" else 0.00072,
                     out=0.00022 if size == "8b" else 0.00072),
        # 405B -> 3.1 8B/70B; 3.1 70B and 3.3 70B -> 3.1 8B (prequisites-model-distillation)
        distillation_teachers=[L405, *L70, L33] if size == "8b" else [L405],
        sources=[SUPPORTED, DOC + "cm-hp-meta-llama31.html", DOC + "model-customization-prepare.html", DISTILL])

for size, label, tokens, inp in [("1b", "1B", 16000, 0.0001), ("3b", "3B", 16000, 0.00015),
                                 ("11b", "11B", 16000, 0.00016), ("90b", "90B", 10000, 0.00072)]:
    vision = size in ("11b", "90b")
    add(id=f"meta.llama3-2-{size}-instruct-v1:0:128k", runtime_id=f"us.meta.llama3-2-{size}-instruct-v1:0",
        name=f"Llama 3.2 {label} Instruct", provider="meta", family="llama3", regions=["us-west-2"],
        customizations=["FINE_TUNING"] + (["DISTILLATION"] if size in ("1b", "3b") else []),
        format="bedrock_conversation", invoke_body="meta_llama",
        limits=limits(min_train_records=100, max_train_records=10000, max_validation_records=1000,
                      max_total_records=10000, max_tokens_per_record=tokens, chars_per_token=4.0,
                      supports_images=vision, max_images_per_record=10 if vision else 0, single_system_block=True),
        hyperparameters=LLAMA_HP, prices=price(train=0.00149 if size in ("1b", "3b") else 0.00799, inp=inp, out=inp),
        # 405B -> 3.2 1B (not 3B); 3.1 70B and 3.3 70B -> 3.2 1B and 3B (prequisites-model-distillation)
        distillation_teachers=([L405, *L70, L33] if size == "1b" else [*L70, L33] if size == "3b" else []),
        sources=[SUPPORTED, DOC + "cm-hp-meta-llama32.html", DOC + "model-customization-prepare.html"]
        + ([DISTILL] if size in ("1b", "3b") else []))

add(id="meta.llama3-3-70b-instruct-v1:0:128k", runtime_id="us.meta.llama3-3-70b-instruct-v1:0",
    name="Llama 3.3 70B Instruct", provider="meta", family="llama3", regions=["us-west-2"],
    customizations=["DISTILLATION"], unverified_customizations=["FINE_TUNING"],
    support_note="Llama 3.3 70B fine-tuning is on no version of AWS's supported-models page (only its record "
                 "limits appear in model-customization-prepare); it is a distillation student (405B teacher)",
    format="bedrock_conversation", invoke_body="meta_llama",
    limits=limits(min_train_records=100, max_train_records=10000, max_validation_records=1000,
                  max_total_records=10000, max_tokens_per_record=16000, chars_per_token=4.0,
                  single_system_block=True),
    hyperparameters=LLAMA_HP, prices=price(train=0.00799, inp=0.00072, out=0.00072),
    distillation_teachers=[L405],
    sources=[SUPPORTED + " (not listed for fine-tuning)", DISTILL, DOC + "model-customization-prepare.html",
             "Hyperparameters: no Llama 3.3 page found; assumed the Llama 3.x set (UNVERIFIED)"])

for key, label, train, inp, out, media, ctx in [("micro", "Micro", 0.001, 0.000035, 0.00014, False, "128k"),
                                            ("lite", "Lite", 0.002, 0.00006, 0.00024, True, "300k"),
                                            ("pro", "Pro", 0.008, 0.0008, 0.0032, True, "300k")]:
    add(id=f"amazon.nova-{key}-v1:0:{ctx}", runtime_id=f"us.amazon.nova-{key}-v1:0", name=f"Nova {label}",
        provider="amazon", family="nova", regions=["us-east-1"],
        customizations=["FINE_TUNING", "DISTILLATION"], format="bedrock_conversation", invoke_body="nova_messages",
        limits=limits(min_train_records=8, max_train_records=20000, max_tokens_per_record=32000, chars_per_token=4.0,
                      supports_images=media, supports_video=media, max_images_per_record=10 if media else 0,
                      max_videos_per_record=1 if media else 0, reserved_strings=NOVA_RESERVED),
        hyperparameters=NOVA_HP, prices=price(train=train, inp=inp, out=out, pt=None),
        on_demand_deployment=True,
        distillation_teachers=(["amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0", "us.amazon.nova-premier-v1:0"]
                               if key != "pro" else ["us.amazon.nova-premier-v1:0"]),
        sources=[SUPPORTED, DOC + "cm-hp-nova-mm.html", DISTILL,
                 "https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html"])

for key, label, hps, train, inp, out, pt, cpt in [
        ("express-v1:0:8k", "Titan Text G1 - Express", TITAN_LE_HP, 0.008, 0.0002, 0.0006, 20.50, True),
        ("lite-v1:0:4k", "Titan Text G1 - Lite", TITAN_LE_HP, 0.0004, 0.00015, 0.0002, 7.10, True),
        ("premier-v1:0:32k", "Titan Text G1 - Premier", TITAN_PREMIER_HP, 0.0025, 0.0005, 0.0015, None, False)]:
    # On-demand ids: Express and Lite have no version suffix; Premier is "...-premier-v1:0".
    runtime = f"amazon.titan-text-{key.split(':')[0]}" + (":0" if "premier" in key else "")
    add(id=f"amazon.titan-text-{key}", runtime_id=runtime,
        name=label, provider="amazon", family="titan-text", regions=["us-east-1", "us-west-2"],
        customizations=["FINE_TUNING"] + (["CONTINUED_PRE_TRAINING"] if cpt else []),
        format="prompt_completion", invoke_body="titan_text",
        limits=limits(max_tokens_per_record=4096, max_train_file_bytes=1 * GB, max_validation_file_bytes=100 * MB,
                      max_total_records=100000 if cpt else 20000, chars_per_token=6.0, multi_turn=False),
        hyperparameters=hps, prices=price(train=train, inp=inp, out=out, pt=pt),
        sources=[SUPPORTED + " (an earlier version lists Titan Text G1 Express, Lite and Premier)",
                 DOC + "cm-hp-titan-text.html", DOC + "model-customization-prepare.html"]
        + (["Titan Text Premier customization id (':32k') UNVERIFIED in current docs"] if "premier" in key else []))

for key, label, max_batch, inp, out in [("command-text-v14:7:4k", "Cohere Command", 8, 0.0015, 0.002),
                                        ("command-light-text-v14:7:4k", "Cohere Command Light", 32, 0.0003, 0.0006)]:
    add(id=f"cohere.{key}", runtime_id=f"cohere.{key.split(':')[0]}", name=label, provider="cohere",
        family="cohere-command", regions=["us-east-1"], customizations=[], unverified_customizations=["FINE_TUNING"],
        support_note="AWS documents Cohere Command hyperparameters (cm-hp-cohere-command), but no version of its "
                     "supported-models page read lists the model, and the customization id is UNVERIFIED",
        format="prompt_completion",
        invoke_body="cohere_command",
        limits=limits(max_train_records=10000, max_validation_records=1000, max_input_tokens=4096,
                      max_output_tokens=2048, max_tokens_per_record=6144, chars_per_token=6.0, multi_turn=False),
        hyperparameters=cohere_hp(max_batch), prices=price(train=0.004 if max_batch == 8 else 0.001, inp=inp, out=out),
        sources=[DOC + "cm-hp-cohere-command.html", SUPPORTED + " (not listed)",
                 "Customization id from list-foundation-models output in public code (UNVERIFIED)"])

# Listed by AWS for fine-tuning, with an image-caption data format finetune_sdk does not build (refused with
# the reason; a hand-prepared s3:// URI is passed through).
IMAGE_NOTE = ("finetune_sdk does not build or validate the image-caption data format ({{\"image-ref\": "
              "\"s3://...\", \"caption\": ...}}) {what} needs; prepare it by hand following "
              "model-customization-prepare and pass its s3:// URI as train=")
for mid, label, regions, fmt_label, hps in [
        ("amazon.titan-image-generator-v1:0", "Titan Image Generator G1", ["us-east-1"], "Titan Image Generator", []),
        ("amazon.titan-image-generator-v2:0", "Titan Image Generator G1 v2", ["us-east-1", "us-west-2"],
         "Titan Image Generator", []),
        ("amazon.titan-embed-image-v1:0", "Titan Multimodal Embeddings G1", ["us-east-1", "us-west-2"],
         "Titan Multimodal Embeddings", [
             hp("epochCount", "str", None, None, None, "Required: 1-100 or 'Auto'."),
             hp("batchSize", "int", 256, 9216, 576, "Records per training step."),
             hp("learningRate", "float", 5e-8, 1.0, 5e-5, "Learning rate.")]),
        ("amazon.nova-canvas-v1:0", "Nova Canvas", ["us-east-1"], "Nova Canvas", [])]:
    embed = "embed" in mid
    add(id=mid, runtime_id=mid, name=label, provider="amazon", family="titan-image" if "titan" in mid else "nova-canvas",
        regions=regions, customizations=["FINE_TUNING"], format="image_caption",
        invoke_body="titan_embed_image" if embed else "titan_image" if "titan" in mid else "nova_canvas",
        data_support="not_built", support_note=IMAGE_NOTE.format(what=fmt_label),
        limits=limits(min_train_records=1000 if embed else 5, max_train_records=500000 if embed else 10000,
                      supports_images=True),
        hyperparameters=hps, prices=price(train=None, inp=None, out=None, note="Not priced in this catalog."),
        on_demand_deployment=mid == "amazon.nova-canvas-v1:0",
        sources=[SUPPORTED, DOC + "model-customization-prepare.html"] + ([DOC + "cm-hp-titan-mm.html"] if embed else []))

# Teachers and base models used for evaluation and distillation only (not customisable here).
for mid, label, provider, fam, body, inp, out, region in [
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "anthropic", "claude-3-5-sonnet", "anthropic_messages", 0.003, 0.015, "us-west-2"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "anthropic", "claude-3-5-sonnet", "anthropic_messages", 0.003, 0.015, "us-west-2"),
        ("meta.llama3-1-405b-instruct-v1:0", "Llama 3.1 405B Instruct", "meta", "llama3", "meta_llama", 0.0024, 0.0024, "us-west-2"),
        ("amazon.nova-premier-v1:0", "Nova Premier", "amazon", "nova", "nova_messages", 0.0025, 0.0125, "us-east-1")]:
    add(id=mid, runtime_id=mid, name=label, provider=provider, family=fam, regions=[region], customizations=[],
        format="bedrock_conversation", invoke_body=body, customizable=False, limits=limits(chars_per_token=4.0),
        hyperparameters=[], prices=price(train=None, storage=None, inp=inp, out=out),
        sources=[DISTILL])

out = {"schema_version": 1, "generated": DATE,
       "note": "Edit tools/build_catalog.py and rerun it; adding a model is a data change.",
       "models": models}
Path(__file__).resolve().parents[1].joinpath("finetune_sdk/catalog/models.json").write_text(json.dumps(out, indent=1) + "\n")
print(len(models), "models")
