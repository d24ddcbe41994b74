EN = {
    "pretrain.intro": "Train a small GPT on a text: pick a corpus, a model size and a few settings, press "
                      "**Start**, and watch the loss fall and the samples improve.",
    "pretrain.data_head": "### 1. Text",
    "pretrain.source": "Corpus",
    "pretrain.src_zh": "Chinese classics (bundled)",
    "pretrain.src_en": "Shakespeare (bundled)",
    "pretrain.src_upload": "My own .txt file",
    "pretrain.upload": "Upload a UTF-8 .txt file (up to 2 GB)",
    "pretrain.preview_need_upload": "Upload a .txt file to see its preview.",
    "pretrain.bad_context": "The context length must be at least 2 tokens.",
    "pretrain.preview": "**{name}**: {chars} characters → {tokens} tokens ({tpc} per character). With a context "
                        "of {context}: {train} training windows, {val} validation windows.",
    "pretrain.tokenizer": "Tokenizer",
    "pretrain.tokenizer_info": "How the model cuts text into tokens. BPE and character vocabularies are learned "
                               "from this corpus; GPT-2's is fixed (50,257 tokens, about 2 per Chinese character).",
    "pretrain.tok_bpe": "BPE (learned from the text)",
    "pretrain.tok_char": "characters",
    "pretrain.tok_gpt2": "GPT-2's",
    "pretrain.vocab": "vocabulary size",
    "pretrain.vocab_info": "BPE: how many tokens to learn (a few thousand suit a small model). Characters: "
                           "keep the most frequent ones, empty = every character. At least 258 (the 256 bytes, "
                           "<|endoftext|>, one more).",
    "pretrain.loss_unit": "Show the loss as",
    "pretrain.unit_nats": "nats per token",
    "pretrain.unit_bits": "bits per character (compares tokenizers)",
    "pretrain.preview_problem": "Problem: {message}",
    "pretrain.model_head": "### 2. Model",
    "pretrain.preset": "Size preset",
    "pretrain.custom": "custom (edited below)",
    "pretrain.arch": "Architecture",
    "pretrain.arch_info": "the building parts; the sizes above stay",
    "pretrain.arch_gpt2": "GPT-2", "pretrain.arch_llama": "Llama", "pretrain.arch_qwen3": "Qwen3",
    "pretrain.arch_about": "- **GPT-2**: a learned table of positions, LayerNorm, a GELU feed-forward, biases.\n"
                           "- **Llama**: rotary positions (RoPE) instead of the table, RMSNorm, a SwiGLU feed-forward "
                           "(three matrices), no biases; its published models also share key/value heads "
                           "(grouped-query attention) and untie the head.\n"
                           "- **Qwen3**: as Llama, plus an RMSNorm on each head's queries and keys (QK-norm).",
    "pretrain.layers": "layers",
    "pretrain.heads": "heads",
    "pretrain.width": "width (emb_dim)",
    "pretrain.context": "context (tokens)",
    "pretrain.dropout": "dropout",
    "pretrain.facts": "**{params}** parameters (vocabulary {vocab} tokens). Training memory ≈ **{total}** "
                      "at batch {batch}: weights {weights}, weights + gradients + AdamW state {states}, activations "
                      "{acts} (rough, fp32).",
    "pretrain.facts_invalid": "Problem: {message}",
    "pretrain.train_head": "### 3. Training",
    "pretrain.steps": "steps",
    "pretrain.minutes": "minutes",
    "pretrain.minutes_info": "a time budget: the run ends at the steps or the minutes, whichever comes first (0 = steps only)",
    "pretrain.recipe": "Recipe",
    "pretrain.recipe_info": "a measured set of the choices here; change any box after picking it",
    "pretrain.recipe_classic": "classic (the baseline)",
    "pretrain.recipe_speedrun": "speedrun (the default)",
    "pretrain.recipe_about": "- **classic**: GPT-2 blocks, AdamW at 1e-3, warm-up then a cosine, 400 steps — the run as it "
                             "always was, kept as the baseline.\n"
                             "- **speedrun**: the smaller cpu-tiny with Qwen3's blocks, 256-token windows four at a "
                             "time, a 4,000-token vocabulary, a flat rate with a linear cooldown, 2 minutes — measured "
                             "10.5 % fewer held-out bits per character than classic in the same 2 minutes on the "
                             "Chinese classics, 6.5 % on Shakespeare (medians of two runs; on a CPU a step is expensive: seven times more "
                             "steps beat the wider model). The default.",
    "pretrain.optimizer": "optimizer",
    "pretrain.optimizer_adamw": "AdamW", "pretrain.optimizer_muon": "Muon (+ AdamW)",
    "pretrain.schedule": "learning-rate schedule",
    "pretrain.schedule_cosine": "warm-up, cosine", "pretrain.schedule_wsd": "warm-up, flat, linear cooldown",
    "pretrain.batch": "batch size",
    "pretrain.lr": "learning rate",
    "pretrain.eval_every": "evaluate every",
    "pretrain.sample_every": "sample every",
    "pretrain.seed": "seed",
    "pretrain.dtype": "precision",
    "pretrain.samples_head": "#### Samples (latest first)",
    "pretrain.no_samples": "_No samples yet._",
    "pretrain.sample_head": "step {step} · {tokens} tokens seen",
    "pretrain.download": "Download the checkpoint",
    "pretrain.status_running": "**Training {name}** (step {step}).",
    "pretrain.status_finished": "**{name} finished** at step {step}; the checkpoint is ready below. To train "
                                "it longer, set **steps** above {step} and press **Continue this run**.",
    "pretrain.status_finished_budget": "**{name} finished** its {minutes} minutes at step {step}; the checkpoint "
                                       "is ready below. To train it longer, set **minutes** above {minutes} and "
                                       "press **Continue this run**.",
    "pretrain.status_stopped": "**{name} stopped** at step {step}; its checkpoint is saved. **Continue this "
                               "run** trains it on to the steps set above.",
    "pretrain.status_failed": "**{name} failed**: {message}",
    "pretrain.status_interrupted": "**{name}** was interrupted at step {step} (the app stopped); **Continue "
                                   "this run** continues from step {saved} (the last save).",
    "pretrain.status_interrupted_unsaved": "**{name}** was interrupted at step {step} (the app stopped) before "
                                           "its first save; start it again.",
    "pretrain.status_not_started": "**{name}** is getting ready…",
    "pretrain.nothing_to_resume": "The run shown cannot be continued: it has no saved checkpoint and training "
                                  "state yet (or a run is going on).",
    "pretrain.resume_more_minutes": "That run has trained its {minutes} minutes: set **minutes** above {minutes} "
                                    "(say {more}) to train it longer.",
    "pretrain.resume_more_steps": "That run is at step {step}: set steps above {step} (say {more}) to train "
                                  "it longer.",
    "pretrain.stats_tokens": " · {tokens} tokens seen",
}
ZH = {
    "pretrain.intro": "在一段文本上训练一个小 GPT：选语料、模型大小和几个设置，按 **开始**，看损失下降、样例变好。",
    "pretrain.data_head": "### 1. 文本",
    "pretrain.source": "语料",
    "pretrain.src_zh": "中文古典（自带）",
    "pretrain.src_en": "莎士比亚（自带）",
    "pretrain.src_upload": "我自己的 .txt 文件",
    "pretrain.upload": "上传 UTF-8 编码的 .txt 文件（不超过 2 GB）",
    "pretrain.preview_need_upload": "上传一个 .txt 文件即可预览。",
    "pretrain.bad_context": "上下文长度至少为 2 个词元。",
    "pretrain.preview": "**{name}**：{chars} 个字符 → {tokens} 个词元（每个字符 {tpc} 个）。上下文为 {context} 时：{train} 个训练"
                        "窗口，{val} 个验证窗口。",
    "pretrain.tokenizer": "分词器",
    "pretrain.tokenizer_info": "模型如何把文本切成词元。BPE 和字符词表从这份语料中学习；GPT-2 的词表是固定的（50,257 个词元，一个汉字约占 2 个）。",
    "pretrain.tok_bpe": "BPE（从文本中学习）",
    "pretrain.tok_char": "字符",
    "pretrain.tok_gpt2": "GPT-2 的",
    "pretrain.vocab": "词表大小",
    "pretrain.vocab_info": "BPE：要学习多少个词元（小模型用几千个就合适）。字符：保留最常见的字符，留空 = 全部字符。至少 258（256 个字节、<|endoftext|>，再加一个）。",
    "pretrain.loss_unit": "损失的单位",
    "pretrain.unit_nats": "每词元奈特（nats）",
    "pretrain.unit_bits": "每字符比特（可比较不同分词器）",
    "pretrain.preview_problem": "问题：{message}",
    "pretrain.model_head": "### 2. 模型",
    "pretrain.preset": "预设大小",
    "pretrain.custom": "自定义（在下方修改）",
    "pretrain.arch": "架构",
    "pretrain.arch_info": "模型由哪些部件搭成；上面的大小不变",
    "pretrain.arch_gpt2": "GPT-2", "pretrain.arch_llama": "Llama", "pretrain.arch_qwen3": "Qwen3",
    "pretrain.arch_about": "- **GPT-2**：可学习的位置表、层归一化（LayerNorm）、前馈网络（GELU）、带偏置。\n"
                           "- **Llama**：用旋转位置编码（RoPE）代替位置表，均方根归一化（RMSNorm），"
                           "门控前馈网络（SwiGLU，三个矩阵），没有偏置；它发布的模型还让多个查询头共用键/值头"
                           "（grouped-query attention），输出头也不与嵌入共用。\n"
                           "- **Qwen3**：和 Llama 一样，另外在每个头的查询和键上各加一层均方根归一化（QK-norm）。",
    "pretrain.layers": "层数",
    "pretrain.heads": "注意力头数",
    "pretrain.width": "宽度（emb_dim）",
    "pretrain.context": "上下文（词元）",
    "pretrain.dropout": "dropout",
    "pretrain.facts": "**{params}** 个参数（词表 {vocab} 个词元）。批大小 {batch} 时训练约需 **{total}** 内存：权重 {weights}，权重 "
                      "+ 梯度 + AdamW 状态 {states}，激活值 {acts}（粗略估计，fp32）。",
    "pretrain.facts_invalid": "问题：{message}",
    "pretrain.train_head": "### 3. 训练",
    "pretrain.steps": "步数",
    "pretrain.minutes": "分钟数",
    "pretrain.minutes_info": "按时间训练：步数和分钟数哪个先到就在哪里结束（0 = 只按步数）",
    "pretrain.recipe": "训练配方",
    "pretrain.recipe_info": "一组测量过的选择；选好后仍可以改任何一项",
    "pretrain.recipe_classic": "经典（基线）",
    "pretrain.recipe_speedrun": "速通（默认）",
    "pretrain.recipe_about": "- **经典**：GPT-2 的块、AdamW（学习率 1e-3）、先预热再按余弦下降、400 步——一直以来的训练方式，"
                             "留作比较的基线。\n"
                             "- **速通**：更小的 cpu-tiny 换上 Qwen3 的块，每步读 4 个 256 词元的窗口，词表 4,000，学习率保持不变、"
                             "最后直线下降，训练 2 分钟——同样 2 分钟里，中文经典上留出集每字符比特数比经典配方少 10.5 %，"
                             "莎士比亚上少 6.5 %（两次的中位数；在 CPU 上一步很贵：步数多七倍，胜过更宽的模型）。这是默认配方。",
    "pretrain.optimizer": "优化器",
    "pretrain.optimizer_adamw": "AdamW", "pretrain.optimizer_muon": "Muon（加 AdamW）",
    "pretrain.schedule": "学习率曲线",
    "pretrain.schedule_cosine": "预热，余弦下降", "pretrain.schedule_wsd": "预热，保持，最后直线下降",
    "pretrain.batch": "批大小",
    "pretrain.lr": "学习率",
    "pretrain.eval_every": "每隔多少步评估",
    "pretrain.sample_every": "每隔多少步生成样例",
    "pretrain.seed": "随机种子",
    "pretrain.dtype": "精度",
    "pretrain.samples_head": "#### 样例（最新的在前）",
    "pretrain.no_samples": "_还没有样例。_",
    "pretrain.sample_head": "第 {step} 步 · 已见 {tokens} 个词元",
    "pretrain.download": "下载检查点",
    "pretrain.status_running": "**正在训练 {name}**（第 {step} 步）。",
    "pretrain.status_finished": "**{name} 已完成**，共 {step} 步；检查点可在下方下载。想再多训练一些，把 **步数** 设为大于 {step}，再按 **继续这次训练**。",
    "pretrain.status_finished_budget": "**{name} 已完成**，训练满了 {minutes} 分钟，共 {step} 步；检查点可在下方下载。想再多训练一些，"
                                       "把 **分钟数** 设为大于 {minutes}，再按 **继续这次训练**。",
    "pretrain.status_stopped": "**{name} 已停止**，停在第 {step} 步，检查点已保存。按 **继续这次训练** 会接着训练到上面设的步数。",
    "pretrain.status_failed": "**{name} 失败**：{message}",
    "pretrain.status_interrupted": "**{name}** 在第 {step} 步被中断（应用已停止）；按 **继续这次训练** 会从第 {saved} 步（最后一次保存）接着训练。",
    "pretrain.status_interrupted_unsaved": "**{name}** 在第 {step} 步被中断（应用已停止），还没来得及保存，请重新开始。",
    "pretrain.status_not_started": "**{name}** 正在准备……",
    "pretrain.nothing_to_resume": "显示的这次训练还不能继续：它还没有保存检查点和训练状态（或者正有训练在运行）。",
    "pretrain.resume_more_steps": "那次训练已在第 {step} 步：请把步数设为大于 {step}（比如 {more}）再继续。",
    "pretrain.resume_more_minutes": "那次训练已经训练满了 {minutes} 分钟：请把 **分钟数** 设为大于 {minutes}（比如 {more}）再继续。",
    "pretrain.stats_tokens": " · 已见 {tokens} 个词元",
}
