"""Boilerplate mining on reposted social posts: is all the furniture found, and is any content stripped?

    .venv/bin/python bench/boilerplate_reposts.py [--posts 8000] [--seed 5]

Builds a Weibo-looking corpus (seeded, no data needed): ordinary posts ending in 。 or ！ (some with a space before
the mark, where an emoticon or a link stood), site furniture on unrelated posts (网页链接, ``&nbsp;`` runs,
秒拍视频, (转), [转载], (图), 来自iPhone客户端, and two site labels that only mining can find), and the reposting
structure that a site template does not have: a missing-child notice (寻人启事, with a parent's name and phone
number), two rumours (紧急通知：, 家长们注意啦：), a health rumour whose first sentence is copied under different
comments, each reposted hundreds of times as ``comment //@user: post`` chains or ``post comment``, and an
event hashtag (``#某市化工厂爆炸#``) carried by hundreds of posts that people wrote themselves.

Every character is labelled furniture or content. Prints the furniture occurrences the ``boilerplate`` step (seed
list + markup + the mined list) removes (recall) and the posts it strips content from, by kind, and the mined
fragments. :func:`build_corpus` is used by ``tests/test_boilerplate.py`` at a small size.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter

# (position, fragment, share of ordinary posts carrying it): the seed list knows the first seven; the last two
# only mining finds.
FURNITURE = [
    ("suffix", " 网页链接", 0.06), ("anywhere", "&nbsp;&nbsp;&nbsp;", 0.04), ("suffix", " 秒拍视频", 0.04),
    ("prefix", "(转) ", 0.03), ("prefix", "[转载] ", 0.03), ("suffix", " (图)", 0.04),
    ("suffix", " 来自iPhone客户端", 0.04), ("prefix", "【每日精选】", 0.03), ("suffix", " - 微博热搜榜", 0.03),
]

_WHO = ["我", "我们", "老妈", "同事", "室友", "朋友", "表妹", "老板", "邻居家的小孩", "楼下大爷"]
_PLACE = ["公司", "学校", "地铁上", "超市", "健身房", "海边", "老家", "咖啡馆", "图书馆", "机场", "菜市场", "山顶"]
_THING = ["火锅", "新手机", "一本小说", "电影", "球赛", "演唱会门票", "红烧肉", "奶茶", "自行车", "考研资料", "小猫",
          "花草", "羽毛球拍", "新鞋子", "年终奖", "作业"]
_FEEL = ["开心", "无语", "感动", "累", "激动", "郁闷", "满足", "紧张", "兴奋", "后悔"]
_TIME = ["今天", "昨天晚上", "周末", "刚才", "早上", "下班后", "中午", "凌晨两点"]
_ORDINARY = [
    "{t}在{p}吃了{o}，真{f}", "{w}{t}去{p}买了{o}", "{t}终于看完了{o}，心情很{f}", "{w}说{p}的{o}特别好",
    "{t}的{p}人好多，有点{f}", "{w}送了我{o}，好{f}", "{t}在{p}遇到了{w}", "{o}到了，{w}很{f}",
    "{t}一个人在{p}发呆", "为了{o}排了一个小时队", "{w}在{p}丢了{o}，太{f}了", "{t}在{p}练了两个小时",
]
_ENDS = ["。", "！", "。", "！！", "～"]

_SURNAME = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
_COMMENTS = ["转发", "扩散", "帮转", "太可怕了", "真的假的", "已转", "希望是假的", "大家注意", "转给家里人看看",
             "求证", "天哪", "心疼", "早点找到吧", "谁能证实一下", "不信谣不传谣", "收到", "赶紧转", "默默转发",
             "好吓人", "保佑", "这是真的吗", "马上告诉我妈", "必须转", "谢谢提醒"]


def _person(rng):
    return rng.choice(_SURNAME) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng):
    return "1" + rng.choice("358") + "".join(rng.choice("0123456789") for _ in range(9))


def _user(rng):
    return rng.choice(["小", "阿", "大", "老", ""]) + rng.choice(_GIVEN) + rng.choice(_GIVEN) + str(rng.randint(1, 999))


_AFTER = ["大家小心", "转给你们看看", "太吓人了", "唉", "真心希望没事", "看到的都转一下", "我先转了", "求扩散"]


def _comment(rng, extra=()):
    """What one reposter writes: a short phrase, sometimes a second one, sometimes a friend mentioned (distinct
    enough that the post beside it looks like furniture beside many different remainders)."""
    c = rng.choice(list(_COMMENTS) + list(extra))
    if rng.random() < 0.6:
        c += "，" + rng.choice(_AFTER)
    if rng.random() < 0.5:
        c += f" @{_user(rng)}"
    return c


def _stories(rng):
    parent, phone = _person(rng), _phone(rng)
    return {
        "missing_child": (f"寻人启事：{_person(rng)}，男，6岁，5月3日下午在人民公园走失，身穿蓝色外套。"
                          f"有线索请联系{parent} {phone}，万分感谢！", ["孩子快回家", "希望孩子平安"]),
        "rumour_water": ("紧急通知：明天起全市自来水停水三天 请大家提前储水 转给家人朋友！", ["家里赶紧接水", "停水是真的吗"]),
        "rumour_kids": ("家长们注意啦：最近有人开白色面包车在小学门口拐骗孩子 已有多名学生被骗 请转告身边的家长！",
                        ["接孩子要小心", "学校门口要注意"]),
        "rumour_tea": ("喝隔夜茶会致癌 专家已经证实 千万别再喝了", ["我天天喝", "隔夜茶还能喝吗"]),
    }


_HASHTAG = "#某市化工厂爆炸#"
_EVENT = ["{w}就在附近，听到好大一声响", "希望伤者平安，为消防员祈福", "现场浓烟滚滚，太吓人了", "化工厂离{p}不远，大家小心",
          "爆炸原因还在调查中", "愿逝者安息", "{w}说窗户都震碎了", "消防员辛苦了，一定要平安"]


def _repost(rng, story, extra):
    form = rng.random()
    if form < 0.45:
        return f"{_comment(rng, extra)} //@{_user(rng)}: {story}"
    if form < 0.75:
        return f"{_comment(rng, extra)}//@{_user(rng)}:{_comment(rng, extra)} //@{_user(rng)}: {story}"
    return f"{story} {_comment(rng, extra)}"


def build_corpus(posts: int = 8000, seed: int = 5):
    """``[(text, labels, kind)]``: labels a string as long as the text, ``f`` under furniture, ``c`` under content."""
    rng = random.Random(seed)
    out = []

    def add(segments, kind):
        text = "".join(s for s, _ in segments)
        labels = "".join(("f" if fur else "c") * len(s) for s, fur in segments)
        out.append((text, labels, kind))

    stories = _stories(rng)
    n_viral = posts // 16
    for kind, (story, extra) in stories.items():
        for _ in range(n_viral):
            add([(_repost(rng, story, extra), False)], kind)
    for _ in range(n_viral):
        own = (rng.choice(_EVENT).format(w=rng.choice(_WHO), p=rng.choice(_PLACE)) + "，" + _comment(rng)
               + rng.choice(_ENDS))
        add([(f"{_HASHTAG}{own}" if rng.random() < 0.6 else f"{own} {_HASHTAG}", False)], "hashtag")
    while len(out) < posts:
        body = rng.choice(_ORDINARY).format(t=rng.choice(_TIME), p=rng.choice(_PLACE), o=rng.choice(_THING),
                                            f=rng.choice(_FEEL), w=rng.choice(_WHO))
        segs = [(body, False), ((" " if rng.random() < 0.3 else "") + rng.choice(_ENDS), False)]
        kind = "ordinary"
        for pos, frag, share in FURNITURE:
            if rng.random() < share:
                kind = "furniture"
                if pos == "prefix":
                    segs.insert(0, (frag, True))
                elif pos == "suffix":
                    segs.append((frag, True))
                else:
                    segs.insert(1, (frag, True))
        add(segs, kind)
    rng.shuffle(out)
    return out


def measure(corpus, fragments):
    """``(furniture found, furniture total, {kind: posts with content stripped}, {kind: posts})`` for the
    ``boilerplate`` step with the seed list and ``fragments``."""
    from tuwen.transforms.boilerplate import StripBoilerplate
    step = StripBoilerplate(fragments)
    found = total = 0
    stripped, kinds = Counter(), Counter()
    for text, labels, kind in corpus:
        kinds[kind] += 1
        gone = [False] * len(text)
        for r in step.find(text):
            for i in range(r.start, r.end):
                gone[i] = True
        # each furniture run (a maximal run of f labels) counts once: found when all its non-space characters go
        i = 0
        while i < len(text):
            if labels[i] == "f":
                j = i
                while j < len(text) and labels[j] == "f":
                    j += 1
                total += 1
                found += all(gone[k] or text[k].isspace() for k in range(i, j))
                i = j
            else:
                i += 1
        if any(g and lab == "c" and not ch.isspace() for g, lab, ch in zip(gone, labels, text)):
            stripped[kind] += 1
    return found, total, stripped, kinds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--posts", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    print("command:", " ".join([".venv/bin/python", "bench/boilerplate_reposts.py"] + list(argv or sys.argv[1:])))
    from tuwen.transforms.boilerplate import mine_boilerplate

    corpus = build_corpus(args.posts, args.seed)
    mined = mine_boilerplate([t for t, _, _ in corpus])
    found, total, stripped, kinds = measure(corpus, mined)
    print(f"corpus: {len(corpus):,} posts: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"mined {len(mined)} fragments:")
    for f in mined:
        print(f"  {f.doc_count:6d}  {f.position:8s}  {f.fragment}")
    print(f"furniture found: {found}/{total} ({found / max(total, 1):.1%})")
    print(f"posts with content stripped: {sum(stripped.values())} ("
          + ", ".join(f"{k} {stripped[k]}/{kinds[k]}" for k in sorted(kinds)) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
