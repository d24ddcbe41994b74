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
