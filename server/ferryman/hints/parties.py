"""Who is on the line: the debtor, or someone else.

The case knows the debtor's name, so the people who answer for them give themselves away by
using it with a word that puts the debtor elsewhere: "小军不在", "刘先生在楼上睡觉", "你找老刘啥事"
(``rules/parties.yaml``). The debtor does not talk about themselves by name, except to say who
they are ("我就是刘志强"), which confirms them instead.
"""

from __future__ import annotations

import re

from ferryman.cases.schema import Customer

_SELF = "(我就是|我是|我叫|本人就是|本人)"
# a name that ends the phrase ("我是黄丽萍，…"), not one that goes on ("我是志强他姐", "我是志强的老婆")
_NAME_ENDS = r"(?=$|[，。！？、,.!?\s]|[啊呀呢吧嘛哈哦啦])"


def debtor_names(customer: Customer) -> list[str]:
    """The ways people call the debtor: full name, given name, 小/老/阿 + a character of it.
    A one-character or non-Chinese name gives none: "王" alone is in too many words."""
    name = customer.name.strip()
    if len(name) < 2 or not all("\u3400" <= c <= "\u9fff" for c in name):
        return []
    surname, given = name[0], name[1:]
    names = [name, surname + "先生" if customer.gender != "F" else surname + "女士", "老" + surname,
             "小" + given[-1], "阿" + given[-1]]
    if len(given) >= 2:
        names.append(given)
    return list(dict.fromkeys(names))


class Parties:
    def __init__(self, customer: Customer, absent_cues: list[str]):
        self._names = sorted(debtor_names(customer), key=len, reverse=True)
        self._cues = absent_cues
        # "我是黄丽萍", also as the ASR writes it ("我是缓丽萍"): the surname may be misheard
        full = [n for n in self._names if len(n) >= 3 or n == customer.name.strip()]
        given = [n for n in self._names if n not in full and len(n) >= 2]
        self._self = ([re.compile(_SELF + re.escape(n) + _NAME_ENDS) for n in full]
                      + [re.compile(_SELF + ".?" + re.escape(n) + _NAME_ENDS) for n in given])

    def introduces_self(self, text: str) -> bool:
        """The debtor saying who they are ("喂，我是黄丽萍")."""
        return any(introduction.search(text) for introduction in self._self)

    def debtor_named(self, text: str) -> str | None:
        """The debtor's name as someone else says it, or None (also when it is the debtor
        saying who they are)."""
        for introduction in self._self:
            text = introduction.sub("", text)
        name = next((name for name in self._names if name in text), None)
        if name is None or not any(cue in text.replace(name, "") for cue in self._cues):
            return None
        return name
