"""Generate a small instruction-following set with exactly checkable answers.

Writes an Alpaca-style JSON list of {"instruction", "input", "output"} records
(input may be ""). Every output is short (a few tokens) and has exactly one
correct answer, so exact-match accuracy is a meaningful metric for a tiny
model. Task kinds are mixed evenly (record i gets kind i % K before a seeded
shuffle). Standard library only; the same --n and --seed give the same file.

Usage:
    python data/scripts/make_instructions.py                 # 3000 records
    python data/scripts/make_instructions.py --n 500 --seed 7 --out /tmp/x.json
"""

import argparse
import json
import os
import random

WORDS = [
    "apple", "banana", "cat", "dog", "house", "river", "green", "table", "water",
    "music", "bread", "chair", "light", "stone", "cloud", "happy", "tiger", "horse",
    "paper", "pencil", "window", "garden", "summer", "winter", "orange", "purple",
    "planet", "rocket", "school", "friend", "market", "bottle", "candle", "forest",
    "island", "jacket", "kitten", "lemon", "monkey", "number", "ocean", "pepper",
    "rabbit", "silver", "turtle", "violin", "yellow", "zebra", "sun", "moon", "star",
    "tree", "fish", "bird", "book", "door", "road", "milk", "rain", "snow", "wind",
    "ship", "king", "queen", "bell", "hat", "cup", "pen", "box", "egg", "leaf",
    "sand", "salt", "rice", "corn", "frog", "duck", "goat", "lamp", "desk", "coat",
    "ball", "drum", "kite", "nest", "ring", "rose", "seed", "tent", "wolf", "bear",
    "shell", "smile", "train", "truck", "sheep", "bridge", "castle", "dragon",
    "button", "mirror", "pocket", "carrot", "banner", "butter", "letter", "cookie",
]

ADJ = ["red", "small", "happy", "old", "big", "quiet", "brown", "little", "young", "lazy",
       "bright", "cold", "tall", "kind", "fast"]
NOUN = ["cat", "dog", "bird", "boy", "girl", "fox", "man", "woman", "horse", "child",
        "teacher", "farmer", "king", "fish", "baker"]
VERB = ["runs", "sleeps", "sings", "jumps", "reads", "swims", "walks", "eats", "smiles",
        "waits", "plays", "cooks", "laughs", "works", "writes"]
PLACE = ["", " at home", " in the park", " by the river", " every day", " at night",
         " in the garden", " on the hill", " with a friend", " after school"]

EN_ANTONYMS = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"),
    ("up", "down"), ("left", "right"), ("early", "late"), ("open", "closed"),
    ("full", "empty"), ("hard", "soft"), ("high", "low"), ("long", "short"),
    ("rich", "poor"), ("strong", "weak"), ("wet", "dry"), ("clean", "dirty"),
    ("day", "night"), ("begin", "end"), ("buy", "sell"), ("win", "lose"),
    ("push", "pull"), ("true", "false"), ("inside", "outside"), ("above", "below"),
    ("first", "last"), ("light", "dark"), ("thick", "thin"), ("wide", "narrow"),
    ("near", "far"), ("loud", "quiet"), ("young", "old"), ("love", "hate"),
    ("give", "take"), ("cheap", "expensive"), ("safe", "dangerous"),
    ("friend", "enemy"), ("question", "answer"), ("north", "south"),
    ("east", "west"), ("always", "never"),
]

ZH_ANTONYMS = [
    ("大", "小"), ("上", "下"), ("左", "右"), ("多", "少"), ("长", "短"),
    ("高", "低"), ("快", "慢"), ("冷", "热"), ("黑", "白"), ("前", "后"),
    ("开", "关"), ("来", "去"), ("进", "出"), ("早", "晚"), ("远", "近"),
    ("新", "旧"), ("胖", "瘦"), ("轻", "重"), ("真", "假"), ("对", "错"),
    ("买", "卖"), ("南", "北"), ("天", "地"), ("哭", "笑"), ("美", "丑"),
    ("深", "浅"), ("粗", "细"), ("宽", "窄"), ("软", "硬"), ("甜", "苦"),
    ("生", "死"), ("好", "坏"), ("古", "今"), ("明", "暗"), ("饱", "饿"),
    ("干", "湿"), ("松", "紧"), ("爱", "恨"), ("胜", "败"), ("东", "西"),
]


def _table(pairs):
    table = {}
    for a, b in pairs:
        for k, v in ((a, b), (b, a)):
            if k in table and table[k] != v:
                raise ValueError(f"antonym table: {k!r} has two answers")
            table[k] = v
    return table


EN_ANT = _table(EN_ANTONYMS)
ZH_ANT = _table(ZH_ANTONYMS)


def reverse_word(r):
    w = r.choice(WORDS)
    ins = r.choice([
        "Reverse the letters of the word.",
        "Write the word backwards.",
        "Spell this word in reverse order.",
    ])
    return ins, w, w[::-1]


def sort_numbers(r):
    nums = [r.randint(0, 20) for _ in range(r.randint(3, 5))]
    ins = r.choice([
        "Sort the numbers from smallest to largest.",
        "Put these numbers in ascending order.",
        "Arrange the numbers in increasing order.",
    ])
    return ins, ", ".join(map(str, nums)), ", ".join(map(str, sorted(nums)))


def add_numbers(r):
    a, b = r.randint(0, 99), r.randint(0, 99)
    ins = r.choice([
        "Add the two numbers.",
        "What is the sum of these two numbers?",
        "Compute the sum.",
    ])
    return ins, f"{a} + {b}", str(a + b)


def upper_case(r):
    s = f"the {r.choice(ADJ)} {r.choice(NOUN)} {r.choice(VERB)}{r.choice(PLACE)}"
    ins = r.choice([
        "Convert the sentence to upper case.",
        "Rewrite the sentence in capital letters.",
        "Make every letter uppercase.",
    ])
    return ins, s, s.upper()


def count_letter(r):
    w = r.choice(WORDS)
    if r.random() < 0.8:
        ch = r.choice(sorted(set(w)))
    else:
        ch = r.choice(sorted(set("abcdefghijklmnopqrstuvwxyz") - set(w)))
    ins = r.choice([
        f"How many times does the letter '{ch}' appear in the word?",
        f"Count the letter '{ch}' in the word.",
        f"How many '{ch}' letters are in this word?",
    ])
    return ins, w, str(w.count(ch))


def larger_number(r):
    a, b = r.sample(range(100), 2)
    ins = r.choice([
        "Which number is larger?",
        "Pick the bigger of the two numbers.",
        "Write the larger number.",
    ])
    return ins, f"{a}, {b}", str(max(a, b))


def antonym_en(r):
    w = r.choice(sorted(EN_ANT))
    ins = r.choice([
        "Give the opposite of the word.",
        "What is the antonym of this word?",
        "Write a word that means the opposite.",
    ])
    return ins, w, EN_ANT[w]


def zh_add(r):
    a, b = r.randint(0, 99), r.randint(0, 99)
    ins = r.choice(["计算两个数的和。", "把这两个数相加。", "求两个数之和。"])
    return ins, f"{a} + {b}", str(a + b)


def zh_antonym(r):
    w = r.choice(sorted(ZH_ANT))
    ins = r.choice(["写出这个字的反义词。", "这个字的反义词是什么？", "请给出反义词。"])
    return ins, w, ZH_ANT[w]


def zh_sort(r):
    nums = [r.randint(0, 20) for _ in range(r.randint(3, 5))]
    ins = r.choice(["把数字从小到大排序。", "请将这些数字按从小到大的顺序排列。", "给下面的数字排序（从小到大）。"])
    return ins, "，".join(map(str, nums)), "，".join(map(str, sorted(nums)))


KINDS = [
    reverse_word, sort_numbers, add_numbers, upper_case, count_letter,
    larger_number, antonym_en, zh_add, zh_antonym, zh_sort,
]


def generate(n, seed):
    r = random.Random(seed)
    records = []
    for i in range(n):
        ins, inp, out = KINDS[i % len(KINDS)](r)
        records.append({"instruction": ins, "input": inp, "output": out})
    r.shuffle(records)
    return records


def main():
    ap = argparse.ArgumentParser(description="Generate checkable instruction tasks.")
    ap.add_argument("--n", type=int, default=3000, help="number of records (default 3000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "instruct", "tasks.json"))
    args = ap.parse_args()
    records = generate(args.n, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(records, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(records)} records ({len(KINDS)} kinds) to {args.out}")


if __name__ == "__main__":
    main()
