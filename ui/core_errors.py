"""The core's error messages in the page's language.

A `PocketLLMError` carries a stable `code` and the `values` of its English template
(see pocketllm/errors.py).  The page shows the Chinese template of that code with the
same values; an error without a translation (a code added later) shows in English.
tests/test_core_error_codes.py checks that every code raised in `pocketllm/` is here,
with the same `{names}` as its English template.
"""
from __future__ import annotations

from pocketllm import PocketLLMError
from pocketllm.errors import Phrase, PhraseList, value_from_record

from .i18n import normalize, page_template
from .markup import Markup, fill, literal

# code -> Chinese template, same {names} as the English one at the raise site.
ZH: dict[str, str] = {
    # catalog: 检查点文件夹（列出、重命名、删除）
    "catalog.damaged_header": "它的任务信息或训练信息不是 JSON 对象",
    "catalog.delete_root": "不能删除整个检查点文件夹。",
    "catalog.in_use": "{name} 属于正在运行的训练任务，请先停止它。",
    "catalog.name_invalid": "新名称最多 {limit} 个字符，且不能包含 `< > : \" | ? *` 或控制字符（现在是 {length} 个字符）。",
    "catalog.name_not_plain": "新名称必须是一个简单的文件名：不能包含 /，也不能以点开头。",
    "catalog.name_taken": "{name} 已存在，请换一个名称。",
    "catalog.not_checkpoint": "{name} 不是 {root} 里的检查点（.safetensors）。",
    "catalog.outside": "{path} 不在检查点文件夹 {root} 里。",
    # chat: 对话
    "chat.empty": "消息是空的：请输入你想问的内容。",
    "chat.too_long": "这条消息有 {length:,} 个字符，最多只能 {limit:,} 个。",
    # checkpoint: 检查点与权重文件
    "checkpoint.bad_pickle": "{name} 不是 PocketLLM 能安全读取的 PyTorch 权重文件：它已损坏，或者不是用 `torch.save(state_dict)` 保存的。只能加载纯张量。",
    "checkpoint.damaged_header": "{name} 的 PocketLLM 文件头已损坏（{detail}）。",
    "checkpoint.does_not_fit": "{source} 与模型配置不符（层数 {layers}，`emb_dim` {emb_dim}，上下文 {context}，词表 {vocab}）：{problems}。"
                               "请使用训练这些权重时的配置。",
    "checkpoint.empty": "{path} 是空文件（0 字节），里面没有模型；可能是没下载完或没复制完的文件。",
    "checkpoint.exists": "{path} 已存在。请换一个 `--model_path`，或加上 `--overwrite` 覆盖它。",
    "checkpoint.header_mismatch": "{source}：文件头与其中的权重对不上（{wrong}）。文件已损坏或被改动过，请使用保存时的原文件。",
    "checkpoint.header_too_big": "{name} 的 PocketLLM 文件头已损坏：其中的 {part} 有 {length:,} 个字符，超过了检查点所需的上限 {limit:,}。",
    "checkpoint.header_too_deep": "{name} 的 PocketLLM 文件头已损坏：其中的 {part} 嵌套超过 {limit} 层（检查点只嵌套几层）。",
    "checkpoint.is_folder": "{path} 是一个文件夹；请给出其中的模型文件（.safetensors 检查点、`pytorch_model.bin` 或 `model.safetensors`）。",
    "checkpoint.missing_tensor": "{source}：缺少张量 {name}，文件不完整。",
    "checkpoint.no_labels": "{name} 自称是分类器，却没有列出标签；文件已损坏。",
    "checkpoint.no_state_dict": "{name} 里没有状态字典（state dict，即从名称到张量的映射）。",
    "checkpoint.not_found": "找不到模型文件：{path}。请检查路径（`--model_path`）。",
    "checkpoint.not_gpt2": "{name} 不是 GPT-2 模型：它的张量名称是 {sample}……PocketLLM 能读取自己的检查点、Hugging Face 的 GPT-2 权重，"
                           "以及原始项目（seed）保存的 `.pth` 文件。",
    "checkpoint.not_pocketllm": "{name} 是 safetensors 文件，但不是 PocketLLM 检查点。",
    "checkpoint.not_safetensors": "检查点以 .safetensors 文件保存；收到的是 {name}。",
    "checkpoint.tokenizer_mismatch": "{source}：{kind} 分词器有 {tokens:,} 个词元，而模型的嵌入层有 {rows:,} 行，两者必须一致。这个文件被改动过，"
                                     "或由不同模型拼凑而成；请用训练模型时的分词器保存模型。",
    "checkpoint.unreadable": "无法读取 {name}（{detail}）；它可能被截断了。",
    "checkpoint.unreadable_pth": "{name} 不是可读取的 PyTorch 权重文件{detail}。它可能被截断了，或者根本不是模型文件。",
    "checkpoint.unreadable_safetensors": "{name} 不是可读取的 .safetensors 文件（{detail}）。它可能被截断了（没下载完或没复制完），或者根本不是检查点。",
    "checkpoint.unsafe_pickle": "{name} 里除了张量还有其他对象（{found}），所以 PocketLLM 拒绝打开它：加载它可能会运行藏在文件里的代码。请只保存权重："
                                "`torch.save(model.state_dict(), path)`。",
    # classify: 分类微调
    "classify.bad_new_tokens": "`--new_tokens`（新词元数）必须是 0 到 {maximum:,} 之间的整数；收到的是 {value}。",
    "classify.bad_trainable": "`--trainable` 只能是 `head`、`last:N`（或直接写 `N`）、`all` 或 `lora`；收到的是 {spec}。",
    "classify.base_labels_differ": "{base} 已经是针对 {base_labels} 的分类器，但这份数据的标签是 {labels}。请改从语言模型（预训练检查点或 GPT-2 权重）开始。",
    "classify.base_not_lm": "{base} 是 {kind} 模型；请给出一个语言模型。",
    "classify.empty_train_split": "训练集是空的：请使用更多数据，或调大训练集比例。",
    "classify.label_count": "给了 {names} 个标签名，但分类头有 {classes} 个类别。",
    "classify.not_a_classifier": "这个模型是语言模型，不是分类器；请先用 `python -m pocketllm classify-train` 训练一个分类器。",
    "classify.too_many_blocks": "`--trainable last:{n}` 要训练的块比模型的块数（{layers}）还多。",
    # cli: 命令行
    "cli.bad_split": "`--split` 需要 {n} 个比例，依次对应训练集、验证集、测试集，例如 `0.7,0.1,0.2`（收到的是 {text}）。",
    "cli.base_given_twice": "基础模型只能给一次：`--base_model` 或 `--gpt2_model_path`，不能两个都给。",
    "cli.is_a_classifier": "{path} 是分类器；请使用 `python -m pocketllm classify`。",
    "cli.lora_and_trainable": "`--lora_rank` 训练的是 LoRA 适配器，但 `--trainable` 指定了 {trainable}；请去掉其中一个。",
    "cli.no_flag": "这些设置没有对应的命令行参数：{fields}。",
    "cli.not_a_classifier": "{path} 是 {kind}，不是分类器；请用 `python -m pocketllm classify-train` 训练一个。",
    "cli.tokenizer_flags": "`--model_path` 显示的是模型自带的分词器；请去掉 `--kind` 和 `--vocab_size`。",
    "cli.unknown_dtype": "未知的精度（dtype）{name!r}；请从 fp32、bf16、int8、fp16 中选一个。",
    # compare: 比较训练运行
    "compare.not_a_run": "{path} 不是运行文件夹（里面没有 `run.json` 或 `events.jsonl`）。",
    "compare.not_found": "找不到运行文件夹：{path}。",
    "compare.too_many": "一次只能比较 1 到 {limit} 次运行（现在是 {count} 次）。",
    # config: 模型配置
    "config.bad_batch_size": "批大小（`batch_size`）必须是 1 到 {limit:,} 之间的整数（收到的是 {value}）。",
    "config.bad_choice": "{name} 必须是 {choices} 之一（收到的是 {value}）",
    "config.bad_rope_scaling": "`rope_scaling` 必须是 `null`，或由正数组成的 {{{keys}}}（收到的是 {value}）",
    "config.kv_heads_do_not_divide": "`num_heads`（{num_heads}）必须是 `num_kv_heads`（{num_kv_heads}）的整数倍：每个键/值头服务一整组查询头",
    "config.not_size": "{name} 必须是整数，0 表示常用值（收到的是 {value}）",
    "config.odd_head_dim": "旋转位置编码（RoPE）按两个数一组旋转，所以 `head_dim` 必须是偶数（收到的是 {head_dim}）",
    "config.out_of_range": "{name} 必须是 {low:g} 到 {high:g} 之间的数（收到的是 {value}）",
    "config.bad_drop_rate": "`drop_rate` 必须在 0 到 1 之间（收到的是 {value}）",
    "config.bad_json": "{path} 不是有效的 JSON：{detail}。",
    "config.heads_do_not_divide": "`emb_dim`（{emb_dim}）必须能被 `num_heads`（{num_heads}）整除；可以试试 `num_heads={suggested}`",
    "config.invalid": "{where}模型配置无效：{problems}。",
    "config.missing_keys": "{source}：缺少键 {missing}。",
    "config.not_bool": "{name} 必须是 `true` 或 `false`（收到的是 {value}）",
    "config.not_found": "找不到配置文件：{path}。可用的预设：{presets}。",
    "config.not_object": "{source}：模型配置必须是一个 JSON 对象，收到的是 {type}。",
    "config.not_positive": "{name} 必须是正整数（收到的是 {value}）",
    "config.too_large": "{name} 最大为 {limit:,}（收到的是 {value}）",
    "config.too_many_parameters": "这个模型会有 {parameters:,} 个参数，而 PocketLLM 最多只构建 {limit:,} 个——请减少层数或减小宽度",
    "config.unknown_keys": "{source}：未知的键 {unknown}。允许的键：{allowed}。",
    # corpus: 预训练语料
    "corpus.bad_stride": "步幅（`stride`）必须是至少为 1 的整数（收到的是 {value}）",
    "corpus.bad_val_fraction": "验证集比例（`val_fraction`）必须大于等于 0 且小于 1（收到的是 {value}）",
    "corpus.invalid_settings": "语料设置无效：{problems}。",
    "corpus.empty": "{name} 是空的：没有可以用来训练的文本。",
    "corpus.too_short": "{name} 只有 {tokens:,} 个词元；上下文长度为 {context}、留出 {held_out:.0%} 作验证集时，至少需要 {needed:,} 个。"
                        "请缩短上下文（`--context_length {fit}` 或更小），或换一段更长的文本。",
    "corpus.too_short_for_any_context": "{name} 只有 {tokens:,} 个词元；上下文长度为 {context}、留出 {held_out:.0%} 作验证集时，"
                                        "至少需要 {needed:,} 个。请换一段更长的文本。",
    # data: 数据划分
    "data.bad_split": "各部分的划分比例必须大于等于 0，且加起来等于 1（收到的是 {fractions}）。",
    # files: 写文件
    "files.claim_contested": "无法占用 {path}：另一次运行一直在抢占它，请再试一次。",
    "files.claimed": "{path} 正在被另一次运行写入（进程 {pid}，开始于 {since}）。请等它完成，或换一个 `{flag}`。"
                     "如果并没有运行在写它（崩溃后进程号被别的程序重用了），请删除 {claim} 再重新开始。",
    "files.folder_not_writable": "无法在 {folder} 里写入（{reason}：{where}）。请换一个你有写权限的文件夹（`{flag}`）。",
    "files.write_failed": "无法写入 {path}（{reason}）。原来的文件保持不变。请腾出一些磁盘空间，或换一个你有写权限的文件夹。",
    "files.write_failed_new": "无法写入 {path}（{reason}）。什么也没有写入。请腾出一些磁盘空间，或换一个你有写权限的文件夹。",
    # generation: 文本生成
    "generation.bad_max_new_tokens": "`max_new_tokens` 必须大于等于 0（收到的是 {got}）。",
    "generation.empty_prompt": "提示词是空的，而模型没有可用来开头的分词器；请给出提示词。",
    "generation.needs_tokenizer": "这个模型的词表有 {vocab} 个词元，不是 GPT-2 的词表，所以必须给出它的分词器：用 `load_model()` 加载（检查点里带着分词器），"
                                  "或传入 `tokenizer=`。",
    # gpt2: GPT-2 权重（下载、导入、导出）
    "hf.bad_index": "{path} 没有把它的分片写成这个文件夹里的文件。",
    "hf.bad_json": "{path} 不是有效的 JSON：{detail}。",
    "hf.does_not_fit": "{folder} 的权重与它的 config.json 不符：{problems}。",
    "hf.file_too_big": "{path} 有 {size:,} 字节；{what} 从不会超过 {limit:,} 字节。",
    "hf.missing_file": "{folder} 里没有 {name}；Hugging Face 模型文件夹应包含 `config.json` 和 `model.safetensors`（或分片与 `model.safetensors.index.json`）。",
    "hf.no_weights": "{folder} 里既没有 `model.safetensors`，也没有 `model.safetensors.index.json`（PocketLLM 只读取 safetensors 权重）。",
    "hf.not_folder": "{path} 不是文件夹；请给出 Hugging Face 模型文件夹（config.json 及其 safetensors 文件）。",
    "hf.parts_not_family": "这个模型的部件（{parts}）不是 {family} 的，所以 Hugging Face 的 {family} 格式装不下它。",
    "hf.unknown_architecture": "{source} 描述的是 {names}；PocketLLM 能打开的是 {known}。",
    "hf.unreadable": "无法读取 {name}（{detail}）；文件可能不完整。",
    "hf.unsupported_part": "{source}：这个 {family} 模型用到了 PocketLLM 还不会构建的部件（rope 类型 {rope}、attention_bias {bias}、激活函数 {act}、滑动窗口 {window}）。",
    "gpt2.download_failed": "无法从 `huggingface.co` 下载 {name}（{error}）。如果你处于离线状态，"
                            "请在另一台电脑上下载 `https://huggingface.co/{repo}/resolve/main/model.safetensors`（或 "
                            "`pytorch_model.bin`），复制到这里，再改用这个文件的路径。",
    "gpt2.empty_folder": "{path} 里既没有 `model.safetensors`，也没有 `pytorch_model.bin`。",
    "gpt2.exists": "{path} 已存在；请换一个 `--out_dir`，或加上 `--overwrite`。",
    "gpt2.export_classifier": "只有语言模型能导出为 GPT-2 格式；这个检查点是分类器。",
    "gpt2.incomplete": "GPT-2 权重不完整：第 {block} 块缺少 {name}。",
    "gpt2.not_hf": "{name} 不是 Hugging Face 的 GPT-2 文件（它是 {source}）。",
    "gpt2.offline": "无法下载 {name}：连不上 `huggingface.co`（是否处于离线状态？）。"
                    "请在能上网的电脑上下载 `https://huggingface.co/{repo}/resolve/main/model.safetensors`（或 `pytorch_model.bin`）"
                    "，复制到这里，再改用这个文件的路径。",
    "gpt2.out_dir_is_file": "{path} 是一个文件；`--out_dir` 必须是文件夹（新建的或已有的都可以）。",
    "gpt2.unknown_source": "{name} 既不是文件，也不是已知的模型名称（{known}）。",
    # inspect: 看看模型内部
    "inspect.bad_context": "上下文（`context`）至少为 1 个词元（收到的是 {got}）。",
    "inspect.bad_count": "`n`（显示多少个候选）至少为 1（收到的是 {n}）。",
    "inspect.bad_head": "注意力头（`head`）必须是 1 到 {heads}（收到的是 {got}）。",
    "inspect.bad_layer": "层（`layer`）必须是 1 到 {layers}（收到的是 {got}）。",
    "inspect.bad_top": "`top` 至少为 1（收到的是 {got}）。",
    "inspect.bad_steps": "`--steps` 填 `all`，或用逗号隔开的整数（收到的是 {got}）。",
    "inspect.timeline_view": "用了 `--run` 时，`--what` 只能是 {views}（收到的是 {what}）。",
    "inspect.classifier": "`inspect` 只适用于语言模型；这个检查点是分类器（{labels}）。请查看它微调前的语言模型，或对它使用 `python -m pocketllm classify`。",
    "inspect.classifier_cli": "`inspect` 只适用于语言模型；这个检查点是分类器。请使用 `--what params`，或查看它微调前的语言模型。",
    "inspect.classifier_head": "`inspect` 只适用于语言模型；这个模型带的是分类头（{classes} 个类别，而不是 {vocab} 个词元）。请查看它微调前的语言模型。",
    "inspect.needs_prompt": "`--what {what}` 需要 `--prompt \"一段文本\"`（空的 `\"\"` 也可以）。",
    "inspect.needs_tokenizer": "这个视图需要模型的分词器：一个 `Tokenizer`，或模型的 `Checkpoint`。",
    "inspect.not_a_model": "这个视图需要 PocketLLM 的 `GPTModel`（或 `pocketllm.load_model` 返回的 `Checkpoint`），收到的是 {got}。",
    "inspect.not_sampling": "`next_token` 的采样设置要作为一个 `Sampling` 值传入（收到的是 {got}）。",
    "inspect.prompt_not_text": "提示词必须是文本（`str`），收到的是 {got}。",
    # instruct: 指令微调
    "instruct.base_is_classifier": "{base} 是分类器（标签 {labels}）；指令微调需要语言模型。",
    "instruct.empty_instruction": "指令是空的：请写下要模型做什么。",
    "instruct.empty_train_split": "训练集是空的：请使用更多记录，或调大训练集比例。",
    # instructions: 指令数据文件
    "instructions.bad_json": "{name} 不是有效的 JSON：{detail}，位于第 {line} 行第 {column} 列。",
    "instructions.at_index": "索引 {n} 处的记录",
    "instructions.at_line": "第 {n} 行",
    "instructions.empty": "{name} 是空的：它需要一个指令记录的列表。",
    "instructions.empty_list": "{name} 是一个空列表：它需要指令记录，每条都要有非空的 `instruction` 和 `output`（`input` 可选）。",
    "instructions.field_empty": "{field!r} 是空的",
    "instructions.field_missing": "缺少 {field!r}",
    "instructions.field_not_text": "{field!r} 是 {kind}，不是文本",
    "instructions.line_not_json": "不是有效的 JSON（{detail}）",
    "instructions.nested_too_deep": "括号嵌套超过 {limit} 层",
    "instructions.too_deep": "{name} 不是指令记录的列表：{problem}。一条记录是由文本组成的对象：`{{\"instruction\": ..., \"input\": ..., \"output\": ...}}`。",
    "instructions.not_object": "是 {kind}，不是含 `instruction`/`output` 的对象",
    "instructions.skipped": "{place}：{reasons}",
    "instructions.none_usable": "{name} 里没有可用的指令记录（{problems}）。每条记录都需要非空的 `instruction` 和 `output`（`input` 可选）。",
    "instructions.not_a_list": "{name} 必须是一个记录列表，形如 `[{{\"instruction\": ..., \"input\": ..., \"output\": ...}}, ...]`"
                               "（或 JSON Lines，每行一条记录）；它却是 {type}。",
    "instructions.not_a_list_object": "{name} 必须是一个记录列表，"
                                      "形如 `[{{\"instruction\": ..., \"input\": ..., \"output\": ...}}, ...]`（或 JSON Li"
                                      "nes，每行一条记录）；它却是一个对象，键为 {keys}。",
    "instructions.not_found": "找不到数据文件：{path}。请给出 JSON 或 JSON Lines 文件（`--data_path`）。",
    "instructions.wrapped_list": "{name} 是一个对象，列表放在键 {key!r} 下；文件本身必须就是记录列表：`[{{...}}, {{...}}]`。",
    # jobs: 训练任务
    "jobs.busy": "已有一个 {kind} 任务（{name}）在运行。请先停止它，或等它完成。",
    # lora: LoRA 适配器
    "lora.already_applied": "这个模型已经有 LoRA 适配器了；请先合并它们（`merge_lora`）。",
    "lora.bad_alpha": "LoRA alpha 必须是正数（收到的是 {alpha}）",
    "lora.invalid_settings": "LoRA 设置无效：{problems}。",
    "lora.no_targets": "这个模型里没有与 LoRA 目标（{targets}）相符的线性层——请写这个模型的层名，例如 {examples}",
    "lora.bad_rank": "LoRA 秩必须是 1 到 {most} 之间的整数（上限是它所适配的最窄那一层的宽度），通常取 4–16（收到的是 {rank}）",
    "lora.not_adapters": "{name} 不是 PocketLLM 的 LoRA 适配器文件。",
    "lora.nothing_to_save": "这个模型没有可保存的 LoRA 适配器。",
    "lora.rank_too_small": "LoRA 秩至少为 1（收到的是 {rank}）。",
    "lora.unreadable": "{path} 不是可读取的适配器文件（{reason}）。",
    "lora.wrong_base": "{name} 与这个模型不匹配（有 {count} 个张量不同，例如 {example}）；请把它加载到训练它时的基础模型（{base}）上。",
    # model: 模型
    "model.context_exceeded": "{tokens} 个词元超出了模型的上下文长度 {context}；请只保留最后 {context} 个词元，或换一个上下文更长的模型。",
    # presets: 预设与保存的设置
    "presets.bad_name": "预设名称为 1 到 40 个字符，只能包含字母、汉字、数字、空格和 - _ .（收到的是 {name!r}）。",
    "presets.builtin": "{name!r} 是内置预设，请换一个名称。",
    "presets.damaged": "预设 {path} 已损坏（{detail}）；请删除它，或重新保存。",
    "presets.damaged_settings": "保存的设置 {path} 已损坏（{detail}）；请删除它，或重新保存。",
    "presets.exists": "名为 {name!r} 的预设已经存在。",
    "presets.no_sampling": "没有名为 {name!r} 的采样预设；现有的是：{known}。",
    "presets.no_training": "没有名为 {name!r} 的 {kind} 设置；现有的是：{known}。",
    "presets.no_training_yet": "没有名为 {name!r} 的 {kind} 设置：还没有保存过任何 {kind} 设置。",
    "presets.unknown_kind": "未知的训练种类 {kind!r}；应为 {known} 之一。",
    "presets.wrong_settings": "{kind} 的设置必须是 `{cls}`。",
    # pretrain: 预训练
    "pretrain.context_too_long": "上下文长度 {wanted} 超过了模型的位置嵌入表（{context}）；请用 {context} 或更小的值。",
    "pretrain.resume_no_state": "无法从 {path} 继续训练：它的运行文件夹（{run_dir}）里没有 {state_file}；请给出那次运行的 `--run_dir`，"
                                "或改用 `--init_from` 从它的权重开始一次新的训练。",
    "pretrain.resume_not_lm": "{path} 是 {kind}，不是语言模型。",
    "pretrain.run_record_damaged": "{path} 已损坏，无法继续那次训练。",
    "pretrain.arch_fixed": "{path} 是 {arch} 模型；权重不能更换架构。请去掉 `--arch`，或不加 `--init_from` 训练一个新模型。",
    "pretrain.tokenizer_fixed": "{path} 用自己的 {kind} 分词器读取文本，模型不能更换分词器。请去掉 `--tokenizer`，或不加 `--init_from` 训练一个新模型。",
    # quantize: 量化与精度
    "quantize.not_cpu": "int8 生成只适用于 CPU；在 GPU 上请用 bf16（`--dtype bf16`）。",
    "quantize.unknown_precision": "未知的精度 {name}；请从 {choices} 中选一个。",
    # run: 微调的基础模型与运行设置
    "run.base_shape_differs": "基础模型 {base} 的形状与 `--config` {config} 不同（{differences}）。请去掉 `--config`（检查点知道自己的形状），"
                              "或选一个这种形状的基础模型。",
    "run.base_vocab_too_small": "基础模型的词表（{model_vocab}）比它的 {kind} 分词器的词表（{tokenizer_vocab}）小；"
                                "微调需要一个嵌入层能覆盖其分词器的模型。",
    "run.max_length_out_of_range": "`--max_length` 必须在 {least} 和模型的上下文长度（{context}）之间。",
    "run.folder_in_use": "{folder} 里的运行正在训练（进程 {pid}，正在写入 {model}）。请等它完成，或换一个 `--run_dir`。",
    "run.folder_record_damaged": "{folder} 里已经有一次运行，但它的 {record} 已损坏，所以无法继续那次运行。请换一个 `--run_dir`"
                                 "（或不指定：每次运行都会得到一个新文件夹）；如果不再需要那次运行，也可以删除 {folder}。",
    "run.folder_taken": "{folder} 里已经有一次运行（它的模型：{model}）。要继续那次运行，请加上 `--resume {model}`；要开始新的运行，"
                        "请换一个 `--run_dir`（或不指定：每次运行都会得到一个新文件夹）。",
    "run.folder_taken_replace": "{folder} 里已经有一次运行（它的模型：{model}）。要开始新的运行，请换一个 `--run_dir`"
                                "（或不指定：每次运行都会得到一个新文件夹）；要替换那次运行，请加上 `--model_path {model} --overwrite`。",
    "run.folder_taken_no_model": "{folder} 里已经有一次运行（它的 {record} 没有写明模型）。请换一个 `--run_dir`（或不指定：每次运行都会得到一个新文件夹）。",
    "run.invalid_settings": "设置无效：{problems}。",
    "run.not_finite": "{name} 必须是有限的数（收到的是 {value}）",
    "run.output_exists": "{path} 已存在，会被覆盖。请换一个 `--model_path`，或加上 `--overwrite` 覆盖它。",
    # sampling: 采样设置
    "sampling.bad_min_p": "`min_p` 必须在 0 到 1 之间，通常取 0.05–0.1（收到的是 {got}）",
    "sampling.bad_penalty": "{name}必须在 -2 到 2 之间，0 表示关闭（收到的是 {got}）",
    "sampling.bad_repetition_penalty": "重复惩罚（`repetition_penalty`）必须在 1（关闭）到 10 之间，通常取 1.1–1.3（收到的是 {got}）",
    "sampling.bad_seed": "随机种子（`seed`）必须是 0 到 {limit:,} 之间的整数（收到的是 {got}）",
    "sampling.bad_stop": "停止字符串最多 {most} 个，每个 1 到 {chars} 个字符",
    "sampling.bad_temperature": "温度（`temperature`）必须是 0（贪心）到 {limit:g} 之间的数，通常取 0.7–1.0（收到的是 {got}）",
    "sampling.bad_top_k": "`top_k` 必须是至少为 1 的整数，留空表示关闭（收到的是 {got}）",
    "sampling.bad_top_p": "`top_p` 必须大于 0、最大为 1，通常取 0.9–0.95（收到的是 {got}）",
    "sampling.bad_valid_utf8": "`valid_utf8` 必须是 `true` 或 `false`（收到的是 {got}）",
    "sampling.invalid": "采样设置无效：{problems}。",
    "sampling.name.frequency_penalty": "频率惩罚（`frequency_penalty`）",
    "sampling.name.presence_penalty": "出现惩罚（`presence_penalty`）",
    "sampling.preset_not_object": "采样预设必须是一个由设置组成的 JSON 对象；请修正或删除这个文件。",
    "sampling.unknown_setting": "未知的采样设置 {unknown}；已知的有：{known}。",
    # table: 分类数据表（CSV / TSV）
    "table.bad_csv": "{name} 不是可读取的 CSV 文件（{detail}）。请检查其中的引号，或在电子表格软件里重新另存为 CSV（UTF-8）。",
    "table.column_out_of_range": "`--{what}_column {index}` 超出范围：这张表有 {width} 列，编号为 0 到 {last}。",
    "table.empty": "{name} 是空的：它需要由标签和文本组成的行。",
    "table.no_columns": "找不到用逗号、制表符、分号或 | 分隔的两列（标签和文本）。分类数据表每行一个样本：标签和文本。",
    "table.no_data": "{name} 只有表头，没有数据行。",
    "table.no_label_column": "{name} 除了文本列 {column!r} 之外没有标签列。请用 `--label_column` 指定标签列。",
    "table.no_such_column": "没有名为 {spec!r} 的列；现有的列是：{columns}（也可以给出从 0 开始的列号）。",
    "table.no_text_column": "{name} 没有文本列：各列（{columns}）里只有数字或单个字符。请用 `--text_column` 指定文本列。",
    "table.no_usable_rows": "{name} 里没有可用的行：{few} 行列数不够，{empty} 行文本为空，{unlabelled} 行没有标签。",
    "table.not_found": "找不到数据文件：{path}。请给出 CSV 或 TSV 文件（`--data_path`）。",
    "table.one_class": "{name}：每一行的标签都是 {label!r}（列 {column!r}），没有什么可区分的。分类器至少需要两个类别。",
    "table.one_column": "{name} 只有一列；它需要一个标签列和一个文本列（用逗号或制表符分隔）。",
    "table.one_row": "{name} 只有一行（{first}）：是只有表头、没有数据吗？分类器需要很多行标签和文本。",
    "table.same_column": "文本列和标签列是同一列。",
    "table.too_many_classes": "列 {column!r} 在 {rows} 行里有 {count} 个不同的值，看起来不像标签。请用 `--label_column` 指定标签列。",
    "table.unclosed_quote": "{name} 第 {line} 行有一个引号（\"）没有闭合，它后面的所有内容都会被当作一段文本。请补上或删掉这个引号（在带引号的文本里，引号要写成 `\"\"`）。",
    # template: 提示模板
    "template.bad_fields": "检查点里的提示模板已损坏：{part!r} 只能使用 {allowed}。",
    "template.damaged": "检查点里的提示模板已损坏：{data}。",
    "template.bad_slot": "检查点里的提示模板已损坏：它的 {part} 含有 {found}，但只能含有 {slot}，且最多一次（模板是带命名占位符的纯文本："
                         "不能有格式说明、转换或嵌套字段；文本里的花括号请写成 {{{{ 或 }}}}）。",
    "template.lone_brace": "检查点里的提示模板已损坏：它的 {part} 在第 {position} 个字符处有一个不属于占位符的花括号 {brace!r}"
                           "（占位符不能嵌套；文本里的花括号请写成 {{{{ 或 }}}}）。",
    "template.not_text": "检查点里的提示模板已损坏：它的 {part} 是 {kind}，不是文本。",
    "template.slot_not_allowed": "检查点里的提示模板已损坏：它的 {part} 含有 {found}，但不能含有任何占位符（模板是纯文本；文本里的花括号请写成 {{{{ 或 }}}}）。",
    "template.too_long": "检查点里的提示模板已损坏：它的 {part} 有 {length:,} 个字符，最多 {limit:,} 个。",
    "template.unknown": "未知的提示模板 {name!r}；请从 {known} 中选一个。",
    # text: 文本文件
    "text.is_folder": "{path} 是一个文件夹；请给出其中的 UTF-8 文本文件（.txt），例如 `--data_path {example}`。",
    "text.not_found": "找不到文本文件：{path}。请检查路径（`--data_path`）。",
    "text.invalid_utf8_byte": "{name} 是 UTF-8 文本，但第 {position:,} 个字节（第 {line:,} 行）无效，可能来自损坏的复制。"
                              "请修改那一行，或用 `iconv -c -f UTF-8 -t UTF-8 in.txt > out.txt` 去掉所有无效字节，然后再试。",
    "text.not_utf8": "{name} 不是 UTF-8 文本（第一个不是 UTF-8 的字节是第 {position:,} 个字节，在第 {line:,} 行），也看不出它是什么编码。"
                     "请在编辑器里打开它，另存为 UTF-8 编码（“另存为……”并选择 UTF-8），然后再试。",
    "text.not_utf8_guessed": "{name} 不是 UTF-8 文本，看起来是 {encoding} 编码（第一个不是 UTF-8 的字节是第 {position:,} 个字节，"
                             "在第 {line:,} 行）。请用 `iconv -f {iconv} -t UTF-8 in.txt > out.txt` 转换它"
                             "（或在编辑器里选“另存为……”并选择 UTF-8），然后再试。",
    # tokenizer: 分词器
    "tokenizer.bad_ids": "{kind} 分词器已损坏：它的编号不是 0..{last}，或者缺少 {eot}。",
    "tokenizer.corpus_too_short": "{source} 只有 {total} 个字符可用来学习词表；{kind} 分词器至少需要 {minimum} 个。请换一段更长的文本，或使用 gpt2 分词器。",
    "tokenizer.damaged": "这个文件里的分词器已损坏（{detail}）。",
    "tokenizer.damaged_json": "这个文件里的 {kind} 分词器已损坏（{detail}）。",
    "tokenizer.refused": "这个文件里的 {kind} 分词器不能使用：{problem}。这个文件已损坏，或不是 PocketLLM 生成的；请使用 PocketLLM 保存的模型文件。",
    "tokenizer.too_large": "这个文件里的分词器有 {size:,} 个字符的 JSON，超过了 PocketLLM 读取的上限 {limit:,}；这个文件已损坏，或不是 PocketLLM 生成的。",
    "tokenizer.too_deep": "这个文件里的分词器嵌套太深，无法读取；这个文件已损坏，或不是 PocketLLM 生成的。",
    "tokenizer.failed": "{kind} 分词器处理这段文本时出错（{detail}）。它的文件已损坏，或是为别的程序制作的；请使用 PocketLLM 保存的模型文件。",
    "tokenizer.not_byte_level": "这个 `bpe` 分词器不能使用：词元 {token} 不是用字节级字符写成的，而 `bpe` 分词器的每个词元都应如此。文件已损坏，或它的种类标错了。",
    "tokenizer.bad_byte_token": "这个 `char` 分词器不能使用：{token} 既不是单个字符，也不是字节词元 `<0x00>` 到 `<0xFF>`。文件已损坏。",
    "tokenizer.no_byte_token": "这个 `char` 分词器缺少某个字节词元，无法写出它没见过的字符；文件已损坏。",
    "tokenizer.no_end_of_text": "这个分词器没有表示文本结束的词元：它的 `tokenizer_config.json` 没有写出它所拥有的 `eos_token`，"
                                "它也没有 {known} 中的任何一个。",
    "tokenizer.template_too_long": "这个分词器的对话模板有 {length:,} 个字符，超过了 PocketLLM 保存的上限 {limit:,}；"
                                   "文件已损坏，或不是模型的 `tokenizer_config.json`。",
    "tokenizer.check.must_be": "{where} 必须是 {expected}，而不是 {found}",
    "tokenizer.check.missing": "缺少 {where}",
    "tokenizer.check.unknown_field": "{where} 不是 PocketLLM 认识的字段",
    "tokenizer.check.too_long": "{where} 有 {length:,} 个字符，超过了允许的 {limit:,} 个",
    "tokenizer.check.too_many": "{where} 有 {count:,} 项，超过了允许的 {limit:,} 项",
    "tokenizer.check.too_deep": "{where} 的步骤嵌套超过了 {limit} 层",
    "tokenizer.check.not_allowed": "{where} 是 {name} 步骤，PocketLLM 不运行它（它运行 {allowed}）",
    "tokenizer.check.twice": "{where} 是同一条链里的第二个 {name} 步骤，这可能让文本成倍增长",
    "tokenizer.check.grows": "{where} 把 {pattern} 替换成更长的 {content}，这可能让文本成倍增长",
    "tokenizer.check.unknown_regex": "{where} 是正则表达式 {pattern}，不在 PocketLLM 运行的范围内（它只运行自己的 `char` 分词器、GPT-2、Llama 3 和 Qwen "
                                     "的切分模式；像 `(a+)+$` 这样精心构造的模式可能永远算不完）",
    "tokenizer.check.bad_id": "{where} 的编号是 {id}；编号必须是 0、1、2……，且不能重复",
    "tokenizer.check.id_gap": "编号 {id} 没有对应的词元；编号必须是 0、1、2……，中间不能缺",
    "tokenizer.check.no_eot": "它没有 {eot} 词元",
    "tokenizer.check.rows": "它的词表有 {count:,} 个词元，而模型的嵌入层有 {rows:,} 行",
    "tokenizer.check.not_byte_level": "词元 {token} 不是用字节级字符写成的，而 `bpe` 分词器的每个词元都应如此",
    "tokenizer.check.not_char_token": "词元 {token} 既不是单个字符，也不是字节词元 `<0x00>` 到 `<0xFF>`",
    "tokenizer.check.wrong_kind": "它标为 {kind}，实际上却是 {other} 分词器",
    "tokenizer.expect.object": "JSON 对象",
    "tokenizer.expect.array": "JSON 数组",
    "tokenizer.expect.string": "字符串",
    "tokenizer.expect.flag": "`true` 或 `false`",
    "tokenizer.expect.integer": "整数",
    "tokenizer.expect.character": "单个字符",
    "tokenizer.expect.pair": "两个字符串",
    "tokenizer.expect.nonempty": "至少一个字符",
    "tokenizer.expect.plain": "普通 JSON（文本、数字、列表）",
    "tokenizer.expect.range": "从 {low:,} 到 {high:,} 的整数",
    "tokenizer.gpt2_damaged": "GPT-2 词表 {path} 已损坏（校验值 {digest}，应为 {expected}）。请重新安装 PocketLLM，或从它的 `git` 仓库恢复这个文件。",
    "tokenizer.cannot_grow": "只有 `bpe` 分词器能学新词；这个模型读的是 {kind} 词元。请把新词元数设为 0。",
    "tokenizer.grow_too_large": "再学 {new} 个新词元会让词表超过 {maximum:,}；请少要一些。",
    "hf.offline": "无法下载 {repo}：连不上 `huggingface.co`（离线？）。请在能上网的机器上运行 `huggingface-cli download {repo} --local-dir {name}`，把文件夹 {name} 复制过来，再给出它的路径。",
    "hf.download_failed": "无法从 `huggingface.co` 下载 {repo}（{error}）。请到 `huggingface.co` 核对名字，或在另一台机器上下载这个文件夹后给出它的路径。",
    "instruct.prompts_fill_context": "每个训练提示词都超过了模型能读的 {max_length} 个词元（最短的也有 {shortest} 个，按 {template} 模板和这个模型的分词器计算），所以没有留下可学的回答。请换更短的模板（如果现在用的不是 `short`，就换成它）、上下文更长的基础模型，或更短的指令。",
    "tokenizer.gpt2_fixed_size": "gpt2 分词器的词表固定为 50,257 个词元；请把词表大小留空，或改选 `bpe` 或 `char`。",
    "tokenizer.not_installed": "用你的语料训练分词器需要 `tokenizers` 包：`pip install -r requirements.txt`",
    "tokenizer.shadowed": "{path} 名为 `tokenizers`，遮住了 Hugging Face 的同名包；请给这个文件改名。",
    "tokenizer.unknown_in_file": "这个文件里的分词器未知或已损坏（种类 {kind!r}）；PocketLLM 认识的有 {known}。",
    "tokenizer.unknown_kind": "未知的分词器种类 {kind!r}；请从 {known} 中选一个。",
    "tokenizer.vocab_too_large": "词表大小（`vocab_size`）{size:,} 太大：词元编号以 16 位整数存储，所以最多 {maximum:,}。小模型用几千个词元学得最好。",
    "tokenizer.vocab_too_small": "对 {kind} 分词器来说，词表大小（`vocab_size`）{size} 太小：它需要 256 个字节词元、<|endoftext|>，再加至少一个学到的词元，"
                                 "所以要 {minimum} 或更多（例如 4000）。",
    # train: 训练
    # snapshots: 训练过程中保存的模型快照
    "snapshots.damaged": "{path} 已损坏。",
    "snapshots.no_step": "这次训练没有第 {step} 步的快照；它有的步数是 {steps}。",
    "snapshots.none": "找不到 {path}：这次训练没有保存快照（参数不超过 {limit:,} 的模型默认保存；加 `--snapshots` 可以打开）。",
    "snapshots.unreadable": "{name} 无法读取（{detail}），可能是不完整的文件。",
    "train.diverged": "第 {step} 步时损失变成了 {loss}：训练发散了。请调低学习率 `--lr`（现在是 {lr}），然后重新开始。",
    "train.fp16_on_cpu": "fp16 训练需要 GPU；在 CPU 上请用 bf16 或 fp32。",
    "train.invalid_settings": "训练设置无效：{problems}。",
    "train.bad_whole": "{name}必须是 {low:,} 到 {high:,} 之间的整数（收到的是 {value}）",
    "train.bad_lr": "学习率（`lr`）必须大于 0、最大为 1，例如 5e-4（收到的是 {value}）",
    "train.bad_number": "{name}必须是 {low:g} 到 {high:g} 之间的数（收到的是 {value}）",
    "train.not_bool": "{name}必须是 `true` 或 `false`（收到的是 {value}）",
    "train.name.batch_size": "批大小（`batch_size`）",
    "train.name.checkpoint_every": "每隔多少步保存（`checkpoint_every`）",
    "train.name.checkpoint_minutes": "每隔多少分钟保存（`checkpoint_minutes`）",
    "train.name.compile": "编译模型（`compile`）",
    "train.name.epochs": "轮数（`epochs`）",
    "train.name.eval_batches": "每次评估的批数（`eval_batches`）",
    "train.name.eval_every": "每隔多少步评估（`eval_every`）",
    "train.name.grad_accum": "梯度累积步数（`grad_accum`）",
    "train.name.grad_clip": "梯度裁剪阈值（`grad_clip`）",
    "train.name.keep_best": "保留最好的权重（`keep_best`）",
    "train.name.snapshots": "训练快照（`snapshots`）",
    "train.name.max_minutes": "训练时长（分钟，`max_minutes`）",
    "train.name.optimizer": "优化器（`optimizer`）",
    "train.name.muon_lr": "Muon 学习率（`muon_lr`）",
    "train.name.schedule": "学习率曲线（`schedule`）",
    "train.name.cooldown": "降温占比（`cooldown`）",
    "train.name.budget_clock": "计时方式（`budget_clock`）",
    "train.bad_choice": "{name}必须是 {choices} 之一（收到的是 {value}）",
    "train.no_time_left": "这次训练已经训练了 {minutes:.1f} 分钟，用完了它的全部时长；要继续训练，请给出更大的 `--max_minutes`。",
    "train.optimizer_differs": "保存的训练状态属于另一个优化器（{saved}），不是 {this}。请用这次训练原来的 `--optimizer` 继续，或者用 `--init_from` 开始一次新的训练。",
    "train.bad_optimizer": "`--optimizer` 必须是 {choices} 之一（收到的是 {value}）。",
    "train.bad_recipe": "没有叫 {name} 的训练配方；现有的配方是 {choices}。",
    "train.name.log_every": "每隔多少步记录（`log_every`）",
    "train.name.max_steps": "最多步数（`max_steps`）",
    "train.name.min_lr_ratio": "最低学习率比例（`min_lr_ratio`）",
    "train.name.patience": "耐心（`patience`，几次评估没有提高就停止）",
    "train.name.sample_every": "每隔多少步生成样例（`sample_every`）",
    "train.name.seed": "随机种子（`seed`）",
    "train.name.threads": "线程数（`threads`）",
    "train.name.warmup_steps": "预热步数（`warmup_steps`）",
    "train.name.weight_decay": "权重衰减（`weight_decay`）",
    "train.no_cuda": "指定了 `--device cuda`，但没有可用的 GPU（CUDA）；请用 `--device cpu`。",
    "train.no_mps": "指定了 `--device mps`，但苹果芯片的 GPU 加速（MPS）不可用；请用 `--device cpu`。",
    "train.no_steps_left": "这次训练已经在第 {step} 步（共 {total} 步）；要继续训练，请给出更大的 `--max_steps`（或更多的 `--epochs`）。",
    "train.out_of_memory": "内存不足。请调小 `--batch_size` 或 `--context_length`，或换一个更小的模型。",
    "train.out_of_memory_estimate": "训练这个模型大约需要 {total_gb} GB（权重、梯度和优化器状态 {states_gb} GB，"
                                    "批大小 {batch_size} × {seq_len} 个词元的激活值 {activations_gb} GB），"
                                    "但 {device} 上只有 {free_gb} GB 可用。请调小 `--batch_size` 或 `--context_length`，"
                                    "或换一个更小的模型（更少的层、更窄的宽度）。",
    "train.state_damaged": "{path} 已损坏，或不是 PocketLLM 写的，所以无法从它继续训练。请改用 `--init_from <检查点>` 从这些权重开始一次新的训练。",
    "train.state_disagrees": "检查点保存的是第 {checkpoint_step} 步，但它旁边的 {state_file} 保存的是第 {state_step} 步：上次保存在两个文件之间被中断了，"
                             "所以两者不一致，继续训练会重复或跳过一些步，而且优化器状态也不对。请改用 `--init_from {model_path}` 从这些权重开始一次新的训练。",
    "train.state_missing": "无法继续训练：缺少 {path}（每次训练都会把它写在检查点旁边）。",
    "train.state_not_ours": "{path} 不是 PocketLLM 的训练状态；请用 `--init_from` 开始一次新的训练。",
    "train.too_few_examples": "训练集只有 {examples} 个样本，但一步需要 {needed} 个（`batch_size` × `grad_accum` × 进程数）。"
                              "请调小 `--batch_size`，或使用更多数据。",
    "train.unknown_device": "未知的设备 {name}；请用 `auto`、`cpu`、`cuda`、`cuda:N` 或 `mps`。",
    "train.unknown_dtype": "未知的精度（dtype）{name}；请用 `auto`、fp32、bf16 或 fp16。",
    # weights: 权重导入
    "weights.import_exists": "{path} 已存在；请换一个 `--model_path`，或加上 `--overwrite`。",
}


def core_message(exc: PocketLLMError, lang) -> Markup:
    """`exc`'s message in `lang` (English where no translation exists), its values escaped
    (`ui.markup`).  An error without a code is the page's own, written with `t()` (every error
    the core raises has a code: tests/test_core_error_codes.py)."""
    if not exc.code:
        return Markup(str(exc))
    return coded_message(exc.code, exc.values, str(exc), lang, template=exc.template)


def coded_message(code: str, values: dict, english: str, lang, template: str | None = None) -> Markup:
    """A core message known by its code and values (e.g. a damaged file's reason in the
    catalog), in `lang`, for the page's Markdown: the template is ours, the values are escaped.
    The page's own wording of a code comes first (`ui/strings/core_page.py`: the form's boxes
    where the core names command-line flags), then the Chinese template, then the English
    `template`; with none of them (a message read back from a file) the English text,
    escaped whole (`ui.markup.literal`)."""
    said = {name: say(value_from_record(value), lang) for name, value in values.items()}
    page = page_template(code, lang)
    zh = ZH.get(code) if normalize(lang) == "zh" else None
    for candidate in (page, zh, template):
        if candidate is None:
            continue
        try:
            return fill(candidate, said)
        except (KeyError, IndexError, ValueError, AttributeError):  # a wording that lost a value: never hide the error
            continue
    return literal(english)


def say(value, lang):
    """A message's value in `lang`: a core `Phrase` (a place in a file, a record's reason) said
    by its code, a `PhraseList` phrase by phrase (both as `Markup`); anything else (numbers,
    names) as it is, for `fill` to escape."""
    if isinstance(value, PhraseList):
        return Markup(("；" if normalize(lang) == "zh" else "; ").join(say(p, lang) for p in value.phrases))
    if isinstance(value, Phrase):
        return coded_message(value.code, value.values, str(value), lang)
    return value
