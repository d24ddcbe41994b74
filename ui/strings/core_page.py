"""The page's own wording of core errors whose message is written for the command line.

The core's English template and its Chinese twin in `ui/core_errors.py` tell a CLI user which
flag to change (`--batch_size`, `--context_length`, `--data_path`, `--init_from`): on the
page there are no flags, so these say which box of the form to change, or what to press.
Key: "core_page." + the error's code; the values are the core's (the same `{names}`, a subset
of them: tests/test_page_escaping.py checks), and `ui.core_errors.coded_message` uses these
before the core's own words.  Box names are the form's labels in quotes.
"""
EN = {
    "core_page.corpus.too_short": "{name} has {tokens:,} tokens; with a context of {context} tokens and {held_out:.0%} "
                                  "held out for validation it needs at least {needed:,}. Lower “context (tokens)” "
                                  "to {fit} or less, or use a longer text.",
    "core_page.table.no_text_column": "{name} has no text column: the columns ({columns}) hold only numbers or single "
                                      "characters. Pick the column that holds the texts in “text column”.",
    "core_page.table.no_label_column": "{name} has no label column besides the text column {column!r}. Pick it in "
                                       "“label column”.",
    "core_page.table.too_many_classes": "Column {column!r} has {count} different values in {rows} rows; that does not "
                                        "look like a label. Pick the label column in “label column”.",
    "core_page.table.column_out_of_range": "Column {index} is out of range: the table has {width} column(s), numbered "
                                           "0 to {last}. Pick another one in “{what} column”.",
    "core_page.classify.too_many_blocks": "“N (blocks)” is {n}: more blocks than the model has ({layers}). Lower it.",
    "core_page.run.max_length_out_of_range": "The tokens per example (“tokens per message” / “tokens per example”) "
                                             "must be from {least} to the model's context ({context}); 0 uses the "
                                             "whole context.",
    "core_page.train.out_of_memory": "Out of memory. Lower the batch size or the context length, or pick a smaller "
                                     "model.",
    "core_page.train.out_of_memory_estimate": "Training this model would need about {total_gb} GB (weights, gradients "
                                              "and optimizer {states_gb} GB, activations for a batch of {batch_size} × "
                                              "{seq_len} tokens {activations_gb} GB) but only {free_gb} GB is free on "
                                              "{device}. Lower the batch size or the context length, or choose a "
                                              "smaller model (fewer layers, a narrower width).",
    "core_page.train.too_few_examples": "The training split has {examples} example(s) but one step needs {needed}. "
                                        "Lower the batch size, or use more data.",
    "core_page.train.diverged": "The loss became {loss} at step {step}: training diverged. Lower the learning rate "
                                "(now {lr}) and start again.",
    "core_page.train.no_steps_left": "This run is already at step {step} of {total}; to go on, raise the steps (or "
                                     "the epochs) above {step}.",
    "core_page.quantize.not_cpu": "int8 generation is for the CPU; on a GPU pick bf16 in “Precision”.",
    "core_page.text.not_found": "Text file not found: {path}. Upload it again, or pick a bundled text.",
    "core_page.table.not_found": "Data file not found: {path}. Upload the CSV or TSV file again, or use the bundled "
                                 "data.",
    "core_page.instructions.not_found": "Data file not found: {path}. Upload the JSON or JSON Lines file again, or use "
                                        "the bundled data.",
    "core_page.pretrain.resume_no_state": "{path} cannot be continued: its run folder ({run_dir}) has no {state_file}. "
                                          "Press Start for a new run instead.",
    "core_page.train.state_damaged": "{path} is damaged or was not written by PocketLLM, so this run cannot be "
                                     "continued. Press Start for a new run instead.",
    "core_page.train.state_not_ours": "{path} is not a PocketLLM training state, so this run cannot be continued. "
                                      "Press Start for a new run instead.",
    "core_page.train.state_disagrees": "The checkpoint holds step {checkpoint_step} but {state_file} beside it holds "
                                       "step {state_step}: a save was interrupted between the two files, so this run "
                                       "cannot be continued exactly. Press Start for a new run instead (a finetuning "
                                       "tab can start from this model as its base).",
    "core_page.files.write_failed": "Could not write {path} ({reason}). The previous file there is unchanged. Free "
                                    "some disk space and try again.",
    "core_page.files.write_failed_new": "Could not write {path} ({reason}). Nothing was written. Free some disk space "
                                        "and try again.",
    "core_page.checkpoint.not_found": "Model file not found: {path}. Check the path, or upload the file instead.",
    "core_page.run.folder_in_use": "{folder} holds a run that is training now (process {pid}, writing {model}). Wait "
                                   "for it to finish, then press “Continue this run” again.",
    "core_page.run.folder_record_damaged": "{folder} already holds a run, but its {record} is damaged, so that run "
                                           "cannot be continued. Press Start for a new run (it gets a folder of its "
                                           "own), or delete {folder} if that run is not needed.",
}

ZH = {
    "core_page.corpus.too_short": "{name} 只有 {tokens:,} 个词元；上下文为 {context} 个词元、留出 {held_out:.0%} 作验证集时，"
                                  "至少需要 {needed:,} 个。请把“上下文（词元）”调到 {fit} 或更小，或换一段更长的文本。",
    "core_page.table.no_text_column": "{name} 没有文本列：各列（{columns}）里只有数字或单个字符。请在“文本列”里选出放文本的那一列。",
    "core_page.table.no_label_column": "{name} 除了文本列 {column!r} 之外没有标签列。请在“标签列”里选出它。",
    "core_page.table.too_many_classes": "列 {column!r} 在 {rows} 行里有 {count} 个不同的值，看起来不像标签。请在“标签列”里选出标签列。",
    "core_page.table.column_out_of_range": "第 {index} 列超出范围：这张表有 {width} 列，编号为 0 到 {last}。请在列的下拉框里另选一列。",
    "core_page.classify.too_many_blocks": "“N（块数）”是 {n}，比模型的块数（{layers}）还多。请调小它。",
    "core_page.run.max_length_out_of_range": "每条样本的词元数（“每条消息的词元数” / “每个样本的词元数”）必须在 {least} "
                                             "到模型的上下文长度（{context}）之间；0 表示用满上下文。",
    "core_page.train.out_of_memory": "内存不足。请调小批大小或上下文长度，或换一个更小的模型。",
    "core_page.train.out_of_memory_estimate": "训练这个模型大约需要 {total_gb} GB（权重、梯度和优化器状态 {states_gb} GB，"
                                              "批大小 {batch_size} × {seq_len} 个词元的激活值 {activations_gb} GB），"
                                              "但 {device} 上只有 {free_gb} GB 可用。请调小批大小或上下文长度，"
                                              "或换一个更小的模型（更少的层、更窄的宽度）。",
    "core_page.train.too_few_examples": "训练集只有 {examples} 个样本，但一步需要 {needed} 个。请调小批大小，或使用更多数据。",
    "core_page.train.diverged": "第 {step} 步时损失变成了 {loss}：训练发散了。请调低学习率（现在是 {lr}），然后重新开始。",
    "core_page.train.no_steps_left": "这次训练已经在第 {step} 步（共 {total} 步）；要继续训练，请把步数（或轮数）调到 {step} 以上。",
    "core_page.quantize.not_cpu": "int8 生成只适用于 CPU；在 GPU 上请在“精度”里选 bf16。",
    "core_page.text.not_found": "找不到文本文件：{path}。请重新上传，或选一段自带的文本。",
    "core_page.table.not_found": "找不到数据文件：{path}。请重新上传 CSV 或 TSV 文件，或使用自带的数据。",
    "core_page.instructions.not_found": "找不到数据文件：{path}。请重新上传 JSON 或 JSON Lines 文件，或使用自带的数据。",
    "core_page.pretrain.resume_no_state": "无法继续 {path}：它的运行文件夹（{run_dir}）里没有 {state_file}。请按“开始”开始一次新的训练。",
    "core_page.train.state_damaged": "{path} 已损坏，或不是 PocketLLM 写的，所以这次训练无法继续。请按“开始”开始一次新的训练。",
    "core_page.train.state_not_ours": "{path} 不是 PocketLLM 的训练状态，所以这次训练无法继续。请按“开始”开始一次新的训练。",
    "core_page.train.state_disagrees": "检查点保存的是第 {checkpoint_step} 步，但它旁边的 {state_file} 保存的是第 {state_step} 步："
                                       "上次保存在两个文件之间被中断了，所以这次训练无法准确地继续。请按“开始”开始一次新的训练"
                                       "（微调标签页可以把这个模型选作基础模型）。",
    "core_page.files.write_failed": "无法写入 {path}（{reason}）。原来的文件保持不变。请腾出一些磁盘空间，然后再试一次。",
    "core_page.files.write_failed_new": "无法写入 {path}（{reason}）。什么也没有写入。请腾出一些磁盘空间，然后再试一次。",
    "core_page.checkpoint.not_found": "找不到模型文件：{path}。请检查路径，或改为上传这个文件。",
    "core_page.run.folder_in_use": "{folder} 里的运行正在训练（进程 {pid}，正在写入 {model}）。请等它完成，再按一次“继续这次训练”。",
    "core_page.run.folder_record_damaged": "{folder} 里已经有一次运行，但它的 {record} 已损坏，所以无法继续那次运行。"
                                           "请按“开始”开始一次新的训练（它会得到自己的文件夹）；如果不再需要那次运行，也可以删除 {folder}。",
}
