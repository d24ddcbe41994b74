EN = {
    "generate.stopped": "Stopped after {n} tokens.",
    "generate.legend_cut": "cut by a filter (✂)",
    "generate.legend_utf8": "removed: half a character (⊘)",
    "generate.attention_weight": "weight",
    "generate.caption_next": "How to read it: grey is what the model believes; blue is what sampling draws from after "
                             "temperature, top-k, top-p and min-p. Move a slider and watch the blue bars change.",
    "generate.caption_attention": "How to read it: row = a token, columns = the earlier tokens it looks at; darker = "
                                  "more attention. Look for heads that attend to the previous token or to the first one.",
    "generate.caption_lens": "How to read it: each row is a layer's guess of the next token at each position; "
                             "darker = surer. Early layers guess roughly, later layers settle on the answer.",
    "generate.caption_params": "How to read it: where the parameters are. With a small model the embeddings and "
                               "the output head are most of them.",
    "generate.inside_chars": "Look inside reads the last {limit} characters of the prompt ({cut} before them "
                             "are left out).",
    "generate.precision": "Precision",
    "generate.precision_info": "How the weights are stored while generating: int8 is the fastest on a CPU "
                               "(1.5–2× bf16 for GPT-2 124M) and differs slightly from fp32.",
    "generate.precision_fp32": "fp32 (exact)",
    "generate.precision_bf16": "bf16 (half the memory)",
    "generate.precision_int8": "int8 (fastest on a CPU)",
    "generate.intro": "Pick a model, write the start of a text, and let the model continue it. "
                      "The sliders decide how it picks each next token.",
    "generate.model": "Model (from the checkpoints folder)",
    "generate.refresh": "Refresh",
    "generate.prompt": "Prompt",
    "generate.default_prompt": "Once upon a time",
    "generate.temperature": "temperature",
    "generate.temperature_info": "0 = always the most likely token; higher = more surprising",
    "generate.top_k": "top-k",
    "generate.top_k_info": "keep only the k most likely tokens (0 = off)",
    "generate.top_p": "top-p",
    "generate.top_p_info": "keep the fewest tokens whose probability adds up to p (1 = off)",
    "generate.max_new": "max new tokens",
    "generate.seed": "seed",
    "generate.seed_info": "same seed, same text; empty = different every time",
    "generate.seed_placeholder": "empty: a new seed every time",
    "generate.go": "Generate",
    "generate.stop": "Stop",
    "generate.output": "Continuation",
    "generate.no_model": "No model chosen. Train one on the Pretrain tab or import GPT-2 on the Weights tab, then press Refresh.",
    "generate.note_empty": "The prompt is empty: the model starts after <|endoftext|>, as at the start of a new text.",
    "generate.note_long": "The prompt has {n} tokens but the model's context is {context}: it only sees the last "
                          "{context} ({dropped} dropped from the start).",
    "generate.note_ok": "Prompt: {n} tokens (context {context}).",
    "generate.done": "Generated {n} tokens ({kind} tokenizer).",
    "generate.valid_utf8": "Only whole characters (valid UTF-8)",
    "generate.valid_utf8_info": "Never pick a token that would leave half a character, so the text never shows �. "
                                "Off: the model's raw choice (a small model often breaks Chinese characters).",
    "generate.tl_head": "Watch it learn: the model at each step of a training run",
    "generate.tl_intro": "A run keeps its model at a few steps (0, 10, 20, 50, 100, 200, 400, … and the last). Pick a "
                         "run, then move the slider or press Play: the next-token chart, the logit lens and the "
                         "attention maps redraw for the model of that step, on the same prompt.",
    "generate.tl_run": "Run",
    "generate.tl_run_label": "{name} · {n} snapshots",
    "generate.tl_run_none": "{name} · no snapshots",
    "generate.tl_pick_run": "Pick a run first (a run of the Pretrain or Instruct tab; press Refresh after a new one).",
    "generate.tl_step": "Snapshot",
    "generate.tl_step_info": "1 = the untrained model; each mark is one step the run kept (the step is said below).",
    "generate.tl_play": "▶ Play",
    "generate.tl_pause": "Pause",
    "generate.tl_prompt": "Prompt",
    "generate.tl_prompt_info": "The start of a held-out line of the run's corpus; write your own and press Enter. "
                               "Try a text that repeats to see an induction head.",
    "generate.tl_at": "**Snapshot {k} of {n}: step {step}** · {tokens} tokens seen",
    "generate.tl_at_probe": " · loss on random tokens {first} nats the first time, {second} the second · best "
                            "induction score {best}",
    "generate.tl_no_snapshots": "The run {name} kept no snapshots, so there is nothing to step through. Snapshots are "
                                "on by default for models of up to {limit} M parameters; set “Snapshots” to on in the "
                                "training settings (or add `--snapshots` to the command line) and train again.",
    "generate.tl_no_snapshots_short": "No snapshots in this run",
    "generate.tl_phase": "**Phase change at step {step}:** the loss on repeated random tokens fell from {first} to "
                         "{second} nats the second time, and head {head} of block {layer} scores {best} as an "
                         "induction head — the model learned to copy what followed a token earlier in the text.",
    "generate.tl_no_phase": "{n} snapshots. No phase change in this run yet: the loss on repeated text never fell "
                            "to half of the first time's with an induction head (score ≥ 0.2) — that takes at least "
                            "two layers and usually a longer run.",
    "generate.tl_no_probes": "{n} snapshots. This run recorded no probes (they come with each evaluation; set "
                             "“evaluate every” above 0).",
    "generate.caption_tl_chart": "How to read it: orange falls as the model learns the corpus. When the blue line "
                                 "(the same random tokens, seen a second time) drops well below the grey one (the "
                                 "first time) while the green induction score jumps, induction heads have formed: "
                                 "the red line names that step. The black line is the step on view.",
    "generate.caption_tl_next": "What to look for: the model's own odds (temperature 1, no filters). At step 0 the "
                                "bars are flat (the model guesses evenly); step by "
                                "step they sharpen on the corpus's common characters, then on the ones that fit the "
                                "prompt.",
    "generate.caption_tl_lens": "What to look for: early snapshots guess the same frequent token everywhere; later "
                                "ones guess different tokens at different positions, and the last block grows surer.",
    "generate.caption_tl_attention": "What to look for: at first every row spreads evenly. Heads then find jobs — the "
                                     "previous token, the first token — and an induction head lights up the diagonal "
                                     "one step after the repeat when the prompt repeats itself.",
    "generate.inside_head": "Look inside the model",
    "generate.inside_intro": "What the model does with the prompt: its tokens, the candidates for the next token "
                             "(they follow the sliders above), attention per layer and head, what each layer would "
                             "predict (logit lens), and where the parameters are.",
    "generate.look": "Look inside",
    "generate.layer": "block",
    "generate.head": "head",
    "generate.mean_heads": "mean of all heads",
    "generate.head_n": "head {n}",
    "generate.inside_dropped": "The first {dropped} tokens are beyond the context and not seen (shown faded).",
    "generate.inside_tail": "Attention and the logit lens show the prompt's last {n} tokens ({cut} earlier tokens "
                            "left out, to stay quick and readable); the next-token candidates read the whole prompt.",
}
ZH = {
    "generate.stopped": "已停止：生成了 {n} 个词元。",
    "generate.legend_cut": "被过滤器剪掉（✂）",
    "generate.legend_utf8": "已移除：半个字符（⊘）",
    "generate.attention_weight": "权重",
    "generate.caption_next": "怎么看：灰色是模型本身的判断；蓝色是经过温度、top-k、top-p 和 min-p 之后采样真正使用的概率。"
                             "拖动滑块，看蓝色条如何变化。",
    "generate.caption_attention": "怎么看：每一行是一个词元，每一列是它关注的前面的词元；颜色越深关注越多。"
                                  "找找只看前一个词元或只看第一个词元的头。",
    "generate.caption_lens": "怎么看：每一行是某一层在每个位置对下一个词元的猜测；颜色越深越有把握。"
                             "前面的层猜得粗略，后面的层逐渐确定答案。",
    "generate.caption_params": "怎么看：参数都在哪里。小模型的参数大多在嵌入层和输出头。",
    "generate.inside_chars": "“看看内部”只读取提示词的最后 {limit} 个字符（前面的 {cut} 个字符没有显示）。",
    "generate.precision": "精度",
    "generate.precision_info": "生成时权重的存储方式：int8 在 CPU 上最快（GPT-2 124M 是 bf16 的 1.5–2 倍），"
                               "结果与 fp32 略有差别。",
    "generate.precision_fp32": "fp32（精确）",
    "generate.precision_bf16": "bf16（内存减半）",
    "generate.precision_int8": "int8（CPU 上最快）",
    "generate.intro": "选一个模型，写下文本的开头，让模型续写。滑块决定它如何挑选每一个下一个词元。",
    "generate.model": "模型（来自检查点文件夹）",
    "generate.refresh": "刷新",
    "generate.prompt": "提示词",
    "generate.default_prompt": "学而时习之",
    "generate.temperature": "温度",
    "generate.temperature_info": "0 = 总是选最可能的词元；越高越出人意料",
    "generate.top_k": "top-k",
    "generate.top_k_info": "只保留最可能的 k 个词元（0 = 关闭）",
    "generate.top_p": "top-p",
    "generate.top_p_info": "保留概率之和达到 p 的最少词元（1 = 关闭）",
    "generate.max_new": "最多生成词元数",
    "generate.seed": "随机种子",
    "generate.seed_info": "相同种子得到相同文本；留空 = 每次不同",
    "generate.seed_placeholder": "留空：每次换一个种子",
    "generate.go": "生成",
    "generate.stop": "停止",
    "generate.output": "续写",
    "generate.no_model": "还没有选择模型。先在「预训练」页训练一个，或在「权重」页导入 GPT-2，然后按 刷新。",
    "generate.note_empty": "提示词为空：模型从 <|endoftext|> 之后开始，就像一段新文本的开头。",
    "generate.note_long": "提示词有 {n} 个词元，但模型的上下文只有 {context}：它只看到最后 {context} 个"
                          "（开头的 {dropped} 个被舍弃）。",
    "generate.note_ok": "提示词：{n} 个词元（上下文 {context}）。",
    "generate.done": "共生成 {n} 个词元（{kind} 分词器）。",
    "generate.valid_utf8": "只输出完整字符（有效 UTF-8）",
    "generate.valid_utf8_info": "绝不选会留下半个字符的词元，所以文本里不会出现 �。关闭时按模型原本的选择"
                                "（小模型常常把汉字拆坏）。",
    "generate.tl_head": "看着它学习：训练过程中每个阶段的模型",
    "generate.tl_intro": "一次训练会在几个步数保存模型快照（0、10、20、50、100、200、400……以及最后一步）。选一次训练，"
                         "然后拖动滑块或点“播放”：下一个词元的图、logit lens 和注意力图都会换成那一步的模型，"
                         "提示词保持不变。",
    "generate.tl_run": "训练记录",
    "generate.tl_run_label": "{name} · {n} 个快照",
    "generate.tl_run_none": "{name} · 没有快照",
    "generate.tl_pick_run": "请先选一次训练（预训练或指令微调页的训练；新训练完成后点“刷新”）。",
    "generate.tl_step": "快照",
    "generate.tl_step_info": "1 = 还没训练的模型；每一格是这次训练保存的一个步数（具体步数写在下面）。",
    "generate.tl_play": "▶ 播放",
    "generate.tl_pause": "暂停",
    "generate.tl_prompt": "提示词",
    "generate.tl_prompt_info": "默认是这次训练语料里一行留出文本的开头；可以自己写，按回车生效。"
                               "试试一段重复的文本，就能看到归纳头。",
    "generate.tl_at": "**第 {k} 个快照（共 {n} 个）：第 {step} 步** · 已见 {tokens} 个词元",
    "generate.tl_at_probe": " · 随机词元第一次出现时损失 {first} nats，第二次 {second} · 最高归纳分数 {best}",
    "generate.tl_no_snapshots": "训练记录 {name} 没有保存快照，所以没有可以逐步查看的模型。参数不超过 {limit} M 的模型默认保存快照；"
                                "在训练设置里把“训练快照”设为“保存”（或在命令行加 `--snapshots`），再训练一次。",
    "generate.tl_no_snapshots_short": "这次训练没有快照",
    "generate.tl_phase": "**第 {step} 步出现相变：**重复的随机词元第二次出现时，损失从 {first} 降到了 {second} nats，"
                         "第 {layer} 块的第 {head} 个头的归纳分数达到 {best}——模型学会了照抄前文中同一个词元后面跟着的内容。",
    "generate.tl_no_phase": "共 {n} 个快照。这次训练还没有出现相变：重复文本上的损失没有在出现归纳头（分数 ≥ 0.2）的同时"
                            "降到第一次的一半——这至少需要两层，通常还需要训练更久。",
    "generate.tl_no_probes": "共 {n} 个快照。这次训练没有探测记录（探测随每次评估进行；把“评估间隔”设为大于 0）。",
    "generate.caption_tl_chart": "怎么看：橙线随着模型学会语料而下降。当蓝线（同一串随机词元第二次出现）明显低于灰线（第一次出现），"
                                 "同时绿色的归纳分数跳高，说明归纳头形成了：红线标出那一步。黑线是当前查看的步数。",
    "generate.caption_tl_next": "看什么：这里是模型自己的概率（温度 1，不过滤）。第 0 步的柱子几乎一样高（模型在平均地猜）；"
                                "越往后越集中到语料里常见的字，再到和提示词搭配的字。",
    "generate.caption_tl_lens": "看什么：早期快照在每个位置都猜同一个常见词元；后来不同位置猜不同的词元，最后一块也越来越有把握。",
    "generate.caption_tl_attention": "看什么：一开始每一行的注意力都很平均。后来各个头有了分工——看前一个词元、看第一个词元；"
                                     "提示词重复时，归纳头会在重复开始后点亮那条错开一格的对角线。",
    "generate.inside_head": "看看模型内部",
    "generate.inside_intro": "模型如何处理提示词：它的词元、下一个词元的候选（随上面的滑块变化）、每层每个头的注意力、"
                             "每一层会预测什么（logit lens），以及参数分布在哪里。",
    "generate.look": "查看内部",
    "generate.layer": "块（层）",
    "generate.head": "注意力头",
    "generate.mean_heads": "所有头的平均",
    "generate.head_n": "第 {n} 个头",
    "generate.inside_dropped": "开头的 {dropped} 个词元超出了上下文，模型看不到（显示为淡色）。",
    "generate.inside_tail": "注意力图和 logit lens 只显示提示词的最后 {n} 个词元（前面的 {cut} 个略去，以保持快速、易读）；"
                            "下一个词元的候选读的是完整的提示词。",
}
