"""Emotionally neutral sentences spoken by the synthetic corpus, per language.

Like the fixed sentences of RAVDESS and CREMA-D, their content carries no emotion, so any
emotion a model finds must come from how they are spoken. Each is short enough to last about
2–3 s at a normal speaking rate. English words are all in CMUdict and Mandarin characters all
have a pinyin reading in the ``pinyin202`` inventory, so phonemising them leaves nothing out
(the tests check this).

Example:
    >>> len(SENTENCES["en"]) >= 30 and len(SENTENCES["zh"]) >= 30
    True
    >>> SENTENCES["en"][0]
    'The folder is on the second shelf by the window.'
"""

from __future__ import annotations

SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "The folder is on the second shelf by the window.",
        "The train leaves the station at half past nine.",
        "There are four chairs around the kitchen table.",
        "She put the keys in the drawer next to the door.",
        "The meeting room is at the end of the hall.",
        "He wrote the address on the back of the envelope.",
        "The bus stops in front of the library every hour.",
        "We need to buy paper and some blue pens.",
        "The report has twelve pages and three tables.",
        "The store opens at eight in the morning.",
        "My brother lives in a small town near the river.",
        "The box in the corner is full of old books.",
        "They moved the desk to the other side of the room.",
        "The lamp is next to the plant on the floor.",
        "You can find the form on the first page.",
        "The road turns left after the gas station.",
        "He keeps his bicycle in the garage.",
        "The coffee machine is on the third floor.",
        "Please put the cups back in the cabinet.",
        "The package arrived on Tuesday afternoon.",
        "The garden has a fence made of wood.",
        "I will send the file before the end of the day.",
        "The window in the bedroom faces the street.",
        "Her office is above the bank on the main road.",
        "The printer needs a new cartridge.",
        "The bridge crosses the river near the old mill.",
        "We usually eat lunch at about noon.",
        "The jacket is hanging on the back of the chair.",
        "The schedule for next week is on the board.",
        "A glass of water is on the table.",
        "The car is parked behind the white building.",
        "He read the newspaper while he waited for the bus.",
        "The computer is under the desk in the study.",
        "The shop on the corner sells bread and milk.",
        "The door to the basement is painted green.",
        "They changed the time of the class to Monday.",
    ),
    "zh": (
        "桌子上有一本蓝色的书。",
        "火车九点半从车站出发。",
        "厨房里有四把椅子。",
        "钥匙放在门旁边的抽屉里。",
        "会议室在走廊的尽头。",
        "他把地址写在信封背面。",
        "公交车每小时在图书馆门口停一次。",
        "我们需要买一些纸和笔。",
        "这份报告一共有十二页。",
        "商店早上八点开门。",
        "我哥哥住在河边的小镇上。",
        "角落里的箱子装满了旧书。",
        "他们把桌子搬到了房间另一边。",
        "台灯在地上那盆植物旁边。",
        "表格在第一页上可以找到。",
        "过了加油站以后向左转。",
        "他把自行车放在车库里。",
        "咖啡机在三楼的休息室。",
        "请把杯子放回柜子里。",
        "包裹是星期二下午到的。",
        "花园周围有一圈木头栅栏。",
        "我会在今天下班前发送文件。",
        "卧室的窗户朝向街道。",
        "她的办公室在银行楼上。",
        "打印机需要换新的墨盒。",
        "这座桥在旧磨坊附近过河。",
        "我们一般中午十二点吃午饭。",
        "外套挂在椅子的靠背上。",
        "下周的安排写在白板上。",
        "桌子上有一杯水。",
        "汽车停在白色大楼后面。",
        "他一边等车一边看报纸。",
        "电脑在书房的桌子下面。",
        "拐角的商店卖面包和牛奶。",
        "地下室的门刷成了绿色。",
        "他们把上课时间改到了星期一。",
    ),
}
