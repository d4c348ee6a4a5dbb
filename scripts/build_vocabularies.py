"""Build ``config/vocabularies.json``, Kejian's controlled vocabularies.

The file merges two sources. Stages, subjects, editions, volumes and textbooks are
derived from a GitHub tree listing of the ChinaTextbook catalogue
(``学段/学科/教材版本-出版社/[年级/]书名.pdf``); codes, English labels and what the
catalogue cannot say (resource types, licences, languages, chapter trees) are kept
by hand in the tables below. The catalogue is not shipped, so run this again when it
or a table changes, and commit the output::

    .venv/bin/python scripts/build_vocabularies.py [CATALOGUE] [-o OUTPUT]

The output depends only on the inputs: lists are sorted and codes come from labels,
never from the order of the tree. An edition label the tables do not know still gets
a stable code (a short hash of the label) and is reported on stderr; an unknown stage
or subject stops the build, because its code is part of every textbook key.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CATALOGUE = ROOT.parent / "shared/corpus/zh/textbook-tree-cache.json"
DEFAULT_OUTPUT = ROOT / "config/vocabularies.json"

Row = dict[str, Any]


def table(text: str) -> list[list[str]]:
    """Rows of a ``|``-separated table with stripped cells; ``-`` is an empty cell."""
    return [
        ["" if cell.strip() == "-" else cell.strip() for cell in line.split("|")]
        for line in text.strip().splitlines()
    ]


def items(cell: str) -> list[str]:
    """A ``;``-separated list cell."""
    return cell.split(";") if cell else []


# --- Hand-kept vocabularies -------------------------------------------------------

# The five-four system (五•四学制) is kept as two stages of its own: its books differ
# and grade 6 is junior secondary there. ``variant_of`` links them to the usual stage.
STAGES = [
    ("primary", "小学", "Primary school", range(1, 7), None, []),
    ("junior", "初中", "Junior secondary", range(7, 10), None, []),
    ("senior", "高中", "Senior secondary", range(10, 13), None, []),
    (
        "primary-54",
        "小学（五•四学制）",
        "Primary school (5-4 system)",
        range(1, 6),
        "primary",
        ["小学（五四学制）", "小学（五·四学制）", "五四制小学"],
    ),
    (
        "junior-54",
        "初中（五•四学制）",
        "Junior secondary (5-4 system)",
        range(6, 10),
        "junior",
        ["初中（五四学制）", "初中（五·四学制）", "五四制初中"],
    ),
]
CN_DIGITS = "一二三四五六七八九"
GRADE_NAMES = {10: "高一", 11: "高二", 12: "高三"}
GRADE_ALIASES = {7: ["初一"], 8: ["初二"], 9: ["初三"]}

# Catalogue folder | code | English | aliases
SUBJECTS = table("""
    语文              | chinese         | Chinese                       | -
    数学              | math            | Mathematics                   | -
    英语              | english         | English                       | -
    俄语              | russian         | Russian                       | -
    日语              | japanese        | Japanese                      | -
    物理              | physics         | Physics                       | -
    化学              | chemistry       | Chemistry                     | -
    生物学            | biology         | Biology                       | 生物
    科学              | science         | Science                       | -
    历史              | history         | History                       | -
    地理              | geography       | Geography                     | -
    地理图册          | geography-atlas | Geography atlas               | -
    人文地理          | human-geography | Human geography               | -
    道德与法治        | morality-law    | Morality and Law              | 思想品德
    思想政治          | politics        | Ideology and Politics         | 政治
    体育与健康        | pe              | Physical Education and Health | 体育
    美术              | fine-arts       | Fine Arts                     | -
    艺术              | arts            | Arts                          | -
    音乐              | music           | Music                         | -
    语文·书法练习指导 | calligraphy     | Calligraphy                   | 书法
    信息技术          | it              | Information Technology        | -
    通用技术          | general-tech    | General Technology            | -
""")
SUBJECT_PARENTS = {"geography-atlas": "geography", "calligraphy": "chinese"}
# Subjects of the 2022 curricula that have no book in the catalogue.
K12 = ["primary", "junior", "senior"]
EXTRA_SUBJECTS = [
    ("信息科技", "info-sci-tech", "Information Science and Technology", K12[:2]),
    ("劳动", "labour", "Labour education", K12),
    ("综合实践活动", "practice", "Integrated practice activities", K12),
    ("心理健康", "mental-health", "Mental health", K12),
]

# Edition label without brackets | code | publisher.  Brackets (editor, notation,
# starting grade) and the 配套 (companion atlas) prefix are read by describe_edition.
EDITION_BASES = table("""
    人教版         | pep                      | 人民教育出版社
    统编版         | moe-unified              | 人民教育出版社
    北师大版       | bnup                     | 北京师范大学出版社
    华东师大版     | ecnup                    | 华东师范大学出版社
    华中师大版     | ccnup                    | 华中师范大学出版社
    外研社版       | fltrp                    | 外语教学与研究出版社
    沪外教版       | sflep                    | 上海外语教育出版社
    人教中图版     | pep-sinomaps             | 人民教育出版社、中国地图出版社
    人教鄂教版     | pep-hubei-edu            | 人民教育出版社、湖北教育出版社
    人美版         | people-fine-arts         | 人民美术出版社
    人音版         | people-music             | 人民音乐出版社
    中图版         | sinomaps                 | 中国地图出版社
    中图中华地图版 | sinomaps-zhonghua        | 中国地图出版社、中华地图学社
    商务星图版     | commercial-starmap       | 商务印书馆、星球地图出版社
    地质社版       | geological               | 地质出版社
    科普版         | popular-science          | 科学普及出版社
    科学社版       | science-press            | 科学出版社
    科学粤教版     | science-guangdong-edu    | 科学出版社、广东教育出版社
    教科版         | esph                     | 教育科学出版社
    北京版         | beijing                  | 北京出版社
    清华大学版     | tsinghua                 | 清华大学出版社
    冀教版         | hebei-edu                | 河北教育出版社
    冀少版         | hebei-children           | 河北少年儿童出版社
    冀美版         | hebei-fine-arts          | 河北美术出版社
    冀人版         | hebei-people             | 河北人民出版社
    晋教版         | shanxi-edu               | 山西教育出版社
    晋人版         | shanxi-people            | 山西人民出版社
    沪教版         | shanghai-edu             | 上海教育出版社
    沪科技版       | shanghai-sci-tech        | 上海科学技术出版社
    沪科教版       | shanghai-sci-tech-edu    | 上海科技教育出版社
    沪科技粤教版   | shanghai-sci-tech-gd-edu | 上海科学技术出版社、广东教育出版社
    沪书画版       | shanghai-painting        | 上海书画出版社
    沪音版         | shanghai-music           | 上海音乐出版社
    苏教版         | jiangsu-edu              | 江苏凤凰教育出版社
    苏科版         | jiangsu-sci-tech         | 江苏凤凰科学技术出版社
    苏少版         | jiangsu-children         | 江苏凤凰少年儿童出版社
    译林版         | yilin                    | 译林出版社
    浙教版         | zhejiang-edu             | 浙江教育出版社
    浙科版         | zhejiang-sci-tech        | 浙江科学技术出版社
    浙人美版       | zhejiang-fine-arts       | 浙江人民美术出版社
    鲁教版         | shandong-edu             | 山东教育出版社
    鲁科版         | shandong-sci-tech        | 山东科学技术出版社
    鲁美版         | shandong-fine-arts       | 山东美术出版社
    鲁教湘教版     | shandong-hunan-edu       | 山东教育出版社、湖南教育出版社
    湘教版         | hunan-edu                | 湖南教育出版社
    湘科版         | hunan-sci-tech           | 湖南科学技术出版社
    湘美版         | hunan-fine-arts          | 湖南美术出版社
    湘少版         | hunan-children           | 湖南少年儿童出版社
    湘文艺版       | hunan-literature-art     | 湖南文艺出版社
    鄂教版         | hubei-edu                | 湖北教育出版社
    粤教版         | guangdong-edu            | 广东教育出版社
    粤教粤人版     | guangdong-edu-people     | 广东教育出版社、广东人民出版社
    粤教粤科版     | guangdong-edu-sci-tech   | 广东教育出版社、广东科技出版社
    粤教花城版     | guangdong-edu-huacheng   | 广东教育出版社、花城出版社
    岭南美版       | lingnan-fine-arts        | 岭南美术出版社
    桂教版         | guangxi-edu              | 广西教育出版社
    桂美版         | guangxi-fine-arts        | 广西美术出版社
    广西师大版     | gxnup                    | 广西师范大学出版社
    赣美版         | jiangxi-fine-arts        | 江西美术出版社
    辽海版         | liaohai                  | 辽海出版社
    辽宁师大版     | lnnup                    | 辽宁师范大学出版社
    青岛版         | qingdao                  | 青岛出版社
    济南版         | jinan                    | 济南出版社
    武汉版         | wuhan                    | 武汉出版社
    大象社版       | elephant                 | 大象出版社
    未来社版       | future                   | 未来出版社
    华文社版       | huawen                   | 华文出版社
    西泠印社版     | xiling                   | 西泠印社出版社
    接力版         | jieli                    | 接力出版社
    接力社版       | jieli                    | 接力出版社
    川教版         | sichuan-edu              | 四川教育出版社
    闽教版         | fujian-edu               | 福建教育出版社
    陕旅版         | shaanxi-tourism          | 陕西旅游出版社
    豫科版         | henan-sci-tech           | 河南科学技术出版社
    重庆大学版     | cqup                     | 重庆大学出版社
    西南师大版     | swcnup                   | 西南师范大学出版社
    西南大学版     | swup                     | 西南大学出版社
""")
# Base edition code | English label
EDITION_NAMES = dict(
    table("""
    pep                      | PEP (People's Education Press)
    moe-unified              | MOE unified edition (People's Education Press)
    bnup                     | BNUP (Beijing Normal University Press)
    ecnup                    | ECNUP (East China Normal University Press)
    ccnup                    | CCNUP (Central China Normal University Press)
    fltrp                    | FLTRP (Foreign Language Teaching and Research Press)
    sflep                    | SFLEP (Shanghai Foreign Language Education Press)
    pep-sinomaps             | PEP and SinoMaps Press
    pep-hubei-edu            | PEP and Hubei Education Press
    people-fine-arts         | People's Fine Arts Publishing House
    people-music             | People's Music Publishing House
    sinomaps                 | SinoMaps Press
    sinomaps-zhonghua        | SinoMaps Press and Zhonghua Map Society
    commercial-starmap       | Commercial Press and Star Map Press
    geological               | Geological Publishing House
    popular-science          | Popular Science Press
    science-press            | Science Press
    science-guangdong-edu    | Science Press and Guangdong Education Publishing House
    esph                     | Educational Science Publishing House
    beijing                  | Beijing Publishing House
    tsinghua                 | Tsinghua University Press
    hebei-edu                | Hebei Education Press
    hebei-children           | Hebei Children's Publishing House
    hebei-fine-arts          | Hebei Fine Arts Publishing House
    hebei-people             | Hebei People's Publishing House
    shanxi-edu               | Shanxi Education Press
    shanxi-people            | Shanxi People's Publishing House
    shanghai-edu             | Shanghai Educational Publishing House
    shanghai-sci-tech        | Shanghai Scientific and Technical Publishers
    shanghai-sci-tech-edu    | Shanghai Scientific and Technological Education PH
    shanghai-sci-tech-gd-edu | Shanghai Sci-Tech and Guangdong Education presses
    shanghai-painting        | Shanghai Painting and Calligraphy Publishing House
    shanghai-music           | Shanghai Music Publishing House
    jiangsu-edu              | Jiangsu Phoenix Education Publishing House
    jiangsu-sci-tech         | Jiangsu Phoenix Science and Technology Press
    jiangsu-children         | Jiangsu Phoenix Children's Publishing House
    yilin                    | Yilin Press
    zhejiang-edu             | Zhejiang Education Publishing House
    zhejiang-sci-tech        | Zhejiang Science and Technology Publishing House
    zhejiang-fine-arts       | Zhejiang People's Fine Arts Publishing House
    shandong-edu             | Shandong Education Press
    shandong-sci-tech        | Shandong Science and Technology Press
    shandong-fine-arts       | Shandong Fine Arts Publishing House
    shandong-hunan-edu       | Shandong Education and Hunan Education presses
    hunan-edu                | Hunan Education Publishing House
    hunan-sci-tech           | Hunan Science and Technology Press
    hunan-fine-arts          | Hunan Fine Arts Publishing House
    hunan-children           | Hunan Juvenile and Children's Publishing House
    hunan-literature-art     | Hunan Literature and Art Publishing House
    hubei-edu                | Hubei Education Press
    guangdong-edu            | Guangdong Education Publishing House
    guangdong-edu-people     | Guangdong Education and Guangdong People's presses
    guangdong-edu-sci-tech   | Guangdong Education and Guangdong Sci-Tech presses
    guangdong-edu-huacheng   | Guangdong Education and Huacheng presses
    lingnan-fine-arts        | Lingnan Fine Arts Publishing House
    guangxi-edu              | Guangxi Education Publishing House
    guangxi-fine-arts        | Guangxi Fine Arts Publishing House
    gxnup                    | Guangxi Normal University Press
    jiangxi-fine-arts        | Jiangxi Fine Arts Publishing House
    liaohai                  | Liaohai Publishing House
    lnnup                    | Liaoning Normal University Press
    qingdao                  | Qingdao Publishing House
    jinan                    | Jinan Publishing House
    wuhan                    | Wuhan Publishing House
    elephant                 | Elephant Press
    future                   | Future Publishing House
    huawen                   | Huawen Publishing House
    xiling                   | Xiling Seal Society Publishing House
    jieli                    | Jieli Publishing House
    sichuan-edu              | Sichuan Education Publishing House
    fujian-edu               | Fujian Education Press
    shaanxi-tourism          | Shaanxi Tourism Publishing House
    henan-sci-tech           | Henan Science and Technology Press
    cqup                     | Chongqing University Press
    swcnup                   | Southwest China Normal University Press
    swup                     | Southwest University Press
""")
)
EDITION_ALIASES = {"统编版": ["部编版"]}
# Bracketed qualifier | code token | English
QUALIFIERS = {
    zh: (token, en)
    for zh, token, en in table("""
    A版        | a           | edition A
    B版        | b           | edition B
    PEP        | pep         | PEP series
    精通       | proficiency | Jingtong series
    五线谱     | staff       | staff notation
    简谱       | numbered    | numbered notation
    EEC学院    | eec         | EEC
    一年级起点 | g1start     | from Grade 1
    三年级起点 | g3start     | from Grade 3
""")
}
# Chief editors named in edition labels | English
EDITORS = dict(
    table("""
    章建跃&李增沪 | Zhang Jianyue & Li Zenghu
    高存明        | Gao Cunming
    吴欣          | Wu Xin
    郝建平        | Hao Jianping
    郭玉英        | Guo Yuying
    闫金铎        | Yan Jinduo
    王民          | Wang Min
    王民&田忠     | Wang Min & Tian Zhong
    钟作慈        | Zhong Zuoci
    常锐伦&欧京海 | Chang Ruilun & Ou Jinghai
    杨力          | Yang Li
    敬谱          | Jing Pu
    吴斌          | Wu Bin
    陈琳          | Chen Lin
    刘兆义        | Liu Zhaoyi
    桂诗春        | Gui Shichun
    龚亚夫&鲁宗干 | Gong Yafu & Lu Zonggan
""")
)
# Hand-picked code and English label of the flagship editions.
EDITION_CODES = {
    "人教版（A版）（主编：章建跃&李增沪）": ("pep-a", "PEP, edition A"),
    "人教版（B版）（主编：高存明）": ("pep-b", "PEP, edition B"),
}
# A label the catalogue uses with two publishers: folder -> code, zh, en.
SPLIT_EDITIONS = {
    "配套人教版-中国地图出版社": (
        "pep-atlas-sinomaps",
        "配套人教版（中国地图出版社）",
        "PEP, companion atlas (SinoMaps Press)",
    ),
    "配套人教版-星球地图出版社": (
        "pep-atlas-starmap",
        "配套人教版（星球地图出版社）",
        "PEP, companion atlas (Star Map Press)",
    ),
}

RESOURCE_TYPES = table("""
    courseware       | 课件     | Courseware                      | -
    lesson-plan      | 教案     | Lesson plan                     | 教学设计
    study-guide      | 学案     | Study guide                     | 导学案
    micro-lecture    | 微课视频 | Micro-lecture video             | 微课
    exercises        | 习题     | Exercises                       | 练习;作业
    test-paper       | 试卷     | Test paper                      | 测试卷
    media-asset      | 素材     | Media asset                     | -
    e-textbook       | 电子教材 | E-textbook                      | 电子课本
    course-package   | 课程包   | Course package (SCORM / IMS CC) | SCORM;IMS CC
    lesson-talk      | 说课稿   | Lesson design talk              | 说课
    lesson-recording | 课堂实录 | Lesson recording                | 课堂录像
    other            | 其他     | Other                           | -
""")

# Creative Commons licences: English | Chinese.  The code, URL and SPDX id follow
# from the English name (CC BY-SA 4.0 -> cc-by-sa-4.0, licenses/by-sa/4.0/).
CC_LICENCES = table("""
    CC BY 4.0       | 知识共享 署名 4.0
    CC BY-SA 4.0    | 知识共享 署名-相同方式共享 4.0
    CC BY-NC 4.0    | 知识共享 署名-非商业性使用 4.0
    CC BY-NC-SA 4.0 | 知识共享 署名-非商业性使用-相同方式共享 4.0
    CC BY-ND 4.0    | 知识共享 署名-禁止演绎 4.0
    CC BY-NC-ND 4.0 | 知识共享 署名-非商业性使用-禁止演绎 4.0
    CC0 1.0         | CC0 1.0 公共领域贡献
""")
# Other licences: code | English | Chinese
LICENCES = table("""
    public-domain       | Public domain       | 公有领域
    all-rights-reserved | All rights reserved | 保留所有权利
    school-internal     | School internal use | 校内使用
    publisher-licensed  | Publisher licence   | 出版社授权使用
""")
CC = "https://creativecommons.org/"
LICENCE_URLS = {"public-domain": f"{CC}publicdomain/mark/1.0/"}

LANGUAGES = table("""
    zh      | 中文（简体）   | Chinese (Simplified)  | zh-Hans;zh-CN;汉语;中文
    zh-Hant | 中文（繁体）   | Chinese (Traditional) | zh-TW;zh-HK;繁体中文
    en      | 英语           | English               | -
    ja      | 日语           | Japanese              | -
    ko      | 朝鲜语（韩语） | Korean                | 朝鲜语;韩语
    ru      | 俄语           | Russian               | -
    fr      | 法语           | French                | -
    de      | 德语           | German                | -
    es      | 西班牙语       | Spanish               | -
    bo      | 藏语           | Tibetan               | -
    ug      | 维吾尔语       | Uyghur                | -
    mn      | 蒙古语         | Mongolian             | -
    other   | 其他语言       | Other language        | -
""")

# Chapter trees of demo textbooks: key, edition year of the table of contents, and an
# outline in which indentation nests a node under the one above (codes 1, 1.1, ...).
CHAPTERS = [
    (
        "senior/math/pep-a/-/required1",
        "2019",
        """
        集合与常用逻辑用语
            集合的概念
            集合间的基本关系
            集合的基本运算
            充分条件与必要条件
            全称量词与存在量词
        一元二次函数、方程和不等式
            等式性质与不等式性质
            基本不等式
            二次函数与一元二次方程、不等式
        函数的概念与性质
            函数的概念及其表示
            函数的基本性质
            幂函数
            函数的应用（一）
        指数函数与对数函数
            指数
            指数函数
            对数
            对数函数
            函数的应用（二）
        三角函数
            任意角和弧度制
            三角函数的概念
            诱导公式
            三角函数的图象与性质
            三角恒等变换
            函数y=Asin(ωx+φ)
            三角函数的应用
    """,
    ),
    (
        "junior/math/pep/g7/vol1",
        "2012",
        """
        有理数
            正数和负数
            有理数
            有理数的加减法
            有理数的乘除法
            有理数的乘方
        整式的加减
            整式
            整式的加减
        一元一次方程
            从算式到方程
            解一元一次方程（一）——合并同类项与移项
            解一元一次方程（二）——去括号与去分母
            实际问题与一元一次方程
        几何图形初步
            几何图形
            直线、射线、线段
            角
            课题学习 设计制作长方体形状的包装纸盒
    """,
    ),
    (
        "junior/chinese/moe-unified/g7/vol1",
        "2016",
        """
        第一单元
            春
            济南的冬天
            雨的四季
            古代诗歌四首
        第二单元
            秋天的怀念
            散步
            散文诗二首
            《世说新语》二则
        第三单元
            从百草园到三味书屋
            再塑生命的人
            《论语》十二章
        第四单元
            纪念白求恩
            植树的牧羊人
            走一步，再走一步
            诫子书
        第五单元
            猫
            动物笑谈
            狼
        第六单元
            皇帝的新装
            天上的街市
            女娲造人
            寓言四则
    """,
    ),
    (
        "primary/math/pep/g1/vol1",
        "2013",
        """
        准备课
            数一数
            比多少
        位置
            上、下、前、后
            左、右
        1～5的认识和加减法
            1～5的认识
            比大小
            第几
            分与合
            加法
            减法
            0
        认识图形（一）
        6～10的认识和加减法
            6和7
            8和9
            10
            连加 连减
            加减混合
        11～20各数的认识
        认识钟表
        20以内的进位加法
            9加几
            8、7、6加几
            5、4、3、2加几
        总复习
    """,
    ),
]

# --- Reading the catalogue --------------------------------------------------------

IGNORED_TOP = {"大学", "学数学最重要的刷习题在这里", ".cache", "README.md"}
BOOK_FILE = re.compile(r"\.pdf(?:\.\d+)?$")
GRADE_DIR = re.compile(rf"^([{CN_DIGITS}])年级$")
GRADE_IN_TITLE = re.compile(rf"([{CN_DIGITS}])年级(?=上册|下册|全一册)")
GRADE_RANGE = re.compile(r"(\d+)至(\d+)年级")
# Physical education levels of the curriculum standard: level 1 is grades 1-2, ...
PE_LEVEL = re.compile(r"水平([一二三])")
EDITOR = re.compile(r"（主编：[^）]*）")
SENIOR_VOLUME = re.compile(
    r"(选择性必修|必修)\s*"
    r"(?:第([一二三四五六七八九十]+)册|(\d+)|([上中下])册|(全一册))?\s*(.*)$"
)
HALF_IN_BRACKETS = re.compile(r"（([上下])册?）$")
HALF = re.compile(r"([上中下])册|(全一册)")
BOOK_KINDS = {"学生活动手册": "workbook", "教师用书": "teacher", "学生读本": "reader"}
READER_BANDS = {"小学低年级": "lower", "小学高年级": "upper"}

TRACKS = {
    "": ("", ""),
    "必修": ("required", "Compulsory"),
    "选择性必修": ("selective", "Selective compulsory"),
}
HALVES = {
    "上": ("vol1", "上册", "Volume 1"),
    "中": ("mid", "中册", "Middle volume"),
    "下": ("vol2", "下册", "Volume 2"),
    "全一册": ("single", "全一册", "Single volume"),
}


def cn_number(n: int) -> str:
    """Write 1..99 in Chinese numerals (11 -> 十一)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_DIGITS[tens - 1] + "十")
    return head + (CN_DIGITS[ones - 1] if ones else "")


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:6]


def warn(message: str) -> None:
    print(f"build_vocabularies: {message}", file=sys.stderr)


@dataclass(frozen=True)
class Volume:
    """A volume as a title names it: track (必修 ...), book number and half (上册)."""

    track: str = ""
    number: int = 0
    half: str = ""

    @property
    def code(self) -> str:
        head = f"{TRACKS[self.track][0]}{self.number or ''}"
        half = HALVES[self.half][0] if self.half else ""
        return "-".join(part for part in (head, half) if part)

    @property
    def rank(self) -> tuple[int, int, int]:
        half = list(HALVES).index(self.half) if self.half else -1
        return (list(TRACKS).index(self.track), self.number, half)

    def row(self) -> Row:
        zh = self.track + (f"第{cn_number(self.number)}册" if self.number else "")
        en = TRACKS[self.track][1] + (f", book {self.number}" if self.number else "")
        aliases = [] if self.half or not self.number else [f"{self.track}{self.number}"]
        if self.half:
            _, half_zh, half_en = HALVES[self.half]
            zh += f"·{half_zh}" if self.number else half_zh
            en = f"{en}, {half_en[0].lower()}{half_en[1:]}" if en else half_en
        return {"code": self.code, "zh": zh, "en": en, "aliases": aliases}


@dataclass(frozen=True)
class Book:
    stage: str
    subject: str
    edition_dir: str
    folders: tuple[str, ...]
    title: str


def read_books(catalogue: Path) -> list[Book]:
    """One :class:`Book` per distinct book; split parts (.pdf.1, .pdf.2) are merged."""
    tree = json.loads(catalogue.read_text(encoding="utf-8"))["tree"]
    books: set[Book] = set()
    for entry in tree:
        parts = entry["path"].split("/")
        if entry["type"] != "blob" or parts[0] in IGNORED_TOP or len(parts) < 4:
            continue

        if not BOOK_FILE.search(parts[-1]):
            continue

        folders = tuple(p for p in parts[3:-1] if not p.endswith(".pdf_merge_folder"))
        title = re.sub(r"\s*·\s*", "·", BOOK_FILE.sub("", parts[-1])).strip()
        books.add(Book(parts[0], parts[1], parts[2], folders, title))

    return sorted(books, key=lambda b: (b.stage, b.subject, b.edition_dir, b.title))


# --- Editions ---------------------------------------------------------------------


def describe_edition(label: str) -> tuple[str, str, str]:
    """Code, English label and publisher of an edition label (``人教版（五线谱）``).

    The code is the base edition's code plus a token per known qualifier; a label
    naming an editor or an unknown qualifier also gets a short hash of itself.
    """
    bases = {zh: (code, publisher) for zh, code, publisher in EDITION_BASES}
    rest = label.removeprefix("配套")
    qualifiers = re.findall(r"（([^）]*)）", rest)
    base = re.sub(r"（[^）]*）", "", rest)
    start = re.search(r"[一三]年级起点$", base)
    if start:
        qualifiers.append(start.group())
        base = base[: start.start()]

    if base in bases:
        code, publisher = bases[base]
        en = EDITION_NAMES[code]
    else:
        warn(f"edition {label!r} is not in EDITION_BASES; add it")
        code, publisher = f"edition-{short_hash(base)}", ""
        en = f"Unlisted edition {short_hash(base)}"

    tokens, notes, hashed = [code], [], False
    if label.startswith("配套"):
        tokens.append("atlas")
        notes.append("companion atlas")
    for qualifier in qualifiers:
        if qualifier.startswith("主编："):
            names = qualifier.removeprefix("主编：")
            if names not in EDITORS:
                warn(f"editor {names!r} is not in EDITORS; add it")
            notes.append(f"ed. {EDITORS.get(names) or short_hash(names)}")
            hashed = True
        elif qualifier in QUALIFIERS:
            token, note = QUALIFIERS[qualifier]
            tokens += [] if token == code else [token]
            notes.append(note)
        else:
            warn(f"edition qualifier {qualifier!r} is not in QUALIFIERS; add it")
            hashed = True

    if label in EDITION_CODES:
        code, en = EDITION_CODES[label]
        editors = [note for note in notes if note.startswith("ed. ")]
        return code, ", ".join([en, *editors]), publisher

    if hashed:
        tokens.append(short_hash(label))
    return "-".join(tokens), ", ".join([en, *notes]), publisher


def build_editions(books: list[Book]) -> tuple[list[Row], dict[str, str]]:
    """Edition rows, and the code of every edition folder of the catalogue.

    Folders ``人教版`` and ``人教版-人民教育出版社`` are one edition; a label that the
    catalogue uses with two publishers is two editions, named in SPLIT_EDITIONS.
    """
    publishers: dict[str, set[str]] = defaultdict(set)
    for book in books:
        label, _, publisher = book.edition_dir.partition("-")
        publishers[label].add(publisher)

    rows: list[Row] = []
    folder_codes: dict[str, str] = {}
    for label in sorted(publishers):
        code, en, publisher = describe_edition(label)
        named = sorted(p for p in publishers[label] if p)
        if len(named) <= 1:
            folders = [label, *(f"{label}-{p}" for p in named)]
            editions = [(code, label, en, named[0] if named else publisher, folders)]
        elif "" in publishers[label]:
            raise ValueError(
                f"folder {label!r} names no publisher but the label has several "
                f"({'; '.join(named)}), so its edition is unknown"
            )
        else:
            editions = []
            for name in named:
                folder = f"{label}-{name}"
                if folder not in SPLIT_EDITIONS:
                    raise ValueError(f"add {folder!r} to SPLIT_EDITIONS")
                editions.append((*SPLIT_EDITIONS[folder], name, [folder]))

        for code, zh, en, publisher, folders in editions:
            aliases = set(EDITION_ALIASES.get(label, [])) | (set(folders) - {zh})
            row = {"code": code, "zh": zh, "en": en, "publisher_zh": publisher}
            rows.append(row | {"aliases": sorted(aliases)})
            folder_codes.update(dict.fromkeys(folders, code))

    return sorted(rows, key=lambda r: r["code"]), folder_codes


# --- Textbooks --------------------------------------------------------------------


def module_numbers(books: list[Book]) -> dict[tuple[str, str], int]:
    """Number of each named senior module, e.g. (通用技术, 电子控制技术) -> 1, from the
    titles that give it (``通用技术选择性必修1 电子控制技术``)."""
    numbers: dict[tuple[str, str], int] = {}
    for book in books:
        match = SENIOR_VOLUME.search(book.title)
        if match and match.group(3) and match.group(6):
            numbers[(book.subject, match.group(6))] = int(match.group(3))

    return numbers


def parse_volume(book: Book, modules: dict[tuple[str, str], int]) -> Volume | None:
    """The volume a title names (必修 第一册, 三年级上册 ...), or None."""
    title = EDITOR.sub("", book.title)
    senior = SENIOR_VOLUME.search(title)
    if senior:
        track, cn, digits, half, single, rest = senior.groups()
        number = CN_DIGITS.index(cn) + 1 if cn else int(digits or 0)
        bracket = HALF_IN_BRACKETS.search(rest)
        half = half or (bracket.group(1) if bracket else single) or ""
        if not number and rest and not half:
            # An unnumbered module: 技术与设计1 is module 1, any other takes the
            # number another edition gives it.
            trailing = re.search(r"\d+$", rest)
            number = int(trailing.group()) if trailing else 0
            number = number or modules.get((book.subject, rest), 0)
        return Volume(track, number, half)

    match = HALF.search(title)
    return Volume(half=match.group(1) or match.group(2)) if match else None


def parse_grades(book: Book) -> list[int]:
    """Grades a book is for, from its title or else its grade folder; [] if none."""
    title = EDITOR.sub("", book.title)
    span = GRADE_RANGE.search(title)
    if span:
        return list(range(int(span.group(1)), int(span.group(2)) + 1))

    level = PE_LEVEL.search(title)
    if level:
        first = 2 * "一二三".index(level.group(1)) + 1
        return [first, first + 1]

    for match in [GRADE_IN_TITLE.search(title), *map(GRADE_DIR.match, book.folders)]:
        if match:
            return [CN_DIGITS.index(match.group(1)) + 1]

    return []


def grade_part(grades: list[int]) -> str:
    """Grades as a textbook key writes them: ``g7``, ``g1-g2`` or ``-``."""
    if not grades:
        return "-"

    return f"g{grades[0]}" if len(grades) == 1 else f"g{grades[0]}-g{grades[-1]}"


def build_textbooks(
    books: list[Book], edition_codes: dict[str, str]
) -> tuple[list[Row], dict[str, Volume]]:
    """One row per book, keyed ``stage/subject/edition/grade/volume[/kind]``, and the
    volumes that the titles name."""
    stage_codes = {zh: code for code, zh, *_ in STAGES}
    subject_codes = {zh: code for zh, code, *_ in SUBJECTS}
    modules = module_numbers(books)
    volumes = {v.code: v for v in (Volume(half=h) for h in ("上", "下", "全一册"))}
    textbooks: dict[str, Row] = {}
    for book in books:
        if book.stage not in stage_codes or book.subject not in subject_codes:
            raise ValueError(
                f"{book.stage}/{book.subject} is missing from STAGES or SUBJECTS; "
                "add it with a code and an English label"
            )

        stage, subject = stage_codes[book.stage], subject_codes[book.subject]
        grades = parse_grades(book)
        volume = parse_volume(book, modules)
        kind = next((k for mark, k in BOOK_KINDS.items() if mark in book.title), "")
        band = next((b for mark, b in READER_BANDS.items() if mark in book.title), "")
        key = "/".join(
            [stage, subject, edition_codes[book.edition_dir], grade_part(grades)]
            + [volume.code if volume else "-"]
            + ([f"{kind}-{band}" if band else kind] if kind else [])
        )
        if key in textbooks:
            raise ValueError(
                f"books {textbooks[key]['title']!r} and {book.title!r} share the key "
                f"{key!r}; teach parse_volume or BOOK_KINDS to tell them apart"
            )

        if volume:
            volumes[volume.code] = volume
        textbooks[key] = {
            "key": key,
            "stage": stage,
            "subject": subject,
            "edition": edition_codes[book.edition_dir],
            "grade": f"g{grades[0]}" if len(grades) == 1 else None,
            "grades": [f"g{g}" for g in grades],
            "volume": volume.code if volume else None,
            "kind": kind or "student",
            "title": book.title,
        }

    stage_order = [code for code, *_ in STAGES]
    subject_order = list(subject_codes.values())

    def order(row: Row) -> tuple[Any, ...]:
        volume = volumes[row["volume"]].rank if row["volume"] else (9, 0, 0)
        grades = [int(grade[1:]) for grade in row["grades"]] or [99]
        stage, subject = stage_order.index(row["stage"]), row["subject"]
        return (stage, subject_order.index(subject), row["edition"], grades, volume)

    return sorted(textbooks.values(), key=lambda r: (order(r), r["key"])), volumes


def outline(text: str, prefix: str = "") -> list[Row]:
    """Chapter nodes of an indented outline, numbered ``1``, ``1.1``, ..."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []

    indent = min(len(line) - len(line.lstrip()) for line in lines)
    nodes: list[Row] = []
    children: list[list[str]] = []
    for line in lines:
        if len(line) - len(line.lstrip()) > indent:
            children[-1].append(line)
            continue

        code = f"{prefix}{len(nodes) + 1}"
        nodes.append({"code": code, "title": line.strip()})
        children.append([])

    for node, below in zip(nodes, children, strict=True):
        if below:
            node["children"] = outline("\n".join(below), f"{node['code']}.")

    return nodes


# --- The document -----------------------------------------------------------------


def licences() -> list[Row]:
    """Licence rows: Creative Commons first, then the others."""
    rows = []
    for en, zh in CC_LICENCES:
        name, version = en.removeprefix("CC ").rsplit(" ", 1)
        path = "publicdomain/zero" if name == "CC0" else f"licenses/{name.lower()}"
        url, spdx = f"{CC}{path}/{version}/", en.replace(" ", "-")
        rows.append(
            {"code": spdx.lower(), "zh": zh, "en": en, "url": url, "spdx": spdx}
        )

    for code, en, zh in LICENCES:
        url = LICENCE_URLS.get(code)
        rows.append({"code": code, "zh": zh, "en": en, "url": url, "spdx": None})

    return rows


def chapters(keys: set[str]) -> list[Row]:
    """Chapter trees of the CHAPTERS textbooks that the catalogue has."""
    rows = []
    for key, version, text in sorted(CHAPTERS):
        if key not in keys:
            warn(f"CHAPTERS names {key!r}, which the catalogue lacks; tree left out")
            continue

        rows.append({"textbook": key, "toc_version": version, "nodes": outline(text)})

    return rows


def build(catalogue: Path) -> dict[str, Any]:
    """Return the vocabularies document for the catalogue at ``catalogue``."""
    books = read_books(catalogue)
    editions, edition_codes = build_editions(books)
    textbooks, volumes = build_textbooks(books, edition_codes)
    stage_order = [code for code, *_ in STAGES]
    subject_stages: dict[str, set[str]] = defaultdict(set)
    for row in textbooks:
        subject_stages[row["subject"]].add(row["stage"])

    return {
        "version": 1,
        "stages": [
            {
                "code": code,
                "zh": zh,
                "en": en,
                "grades": [f"g{grade}" for grade in grades],
                "variant_of": variant_of,
                "aliases": aliases,
            }
            for code, zh, en, grades, variant_of, aliases in STAGES
        ],
        "grades": [
            {
                "code": f"g{n}",
                "zh": GRADE_NAMES.get(n) or f"{CN_DIGITS[n - 1]}年级",
                "en": f"Grade {n}",
                "stage": code,
                "aliases": GRADE_ALIASES.get(n, []),
            }
            for code, _, _, grades, variant_of, _ in STAGES
            if variant_of is None
            for n in grades
        ],
        "subjects": [
            {
                "code": code,
                "zh": zh,
                "en": en,
                "parent": SUBJECT_PARENTS.get(code),
                "stages": sorted(subject_stages[code], key=stage_order.index),
                "aliases": items(aliases),
            }
            for zh, code, en, aliases in SUBJECTS
        ]
        + [
            {"code": code, "zh": zh, "en": en, "parent": None}
            | {"stages": stages, "aliases": []}
            for zh, code, en, stages in EXTRA_SUBJECTS
        ],
        "editions": editions,
        "volumes": [v.row() for v in sorted(volumes.values(), key=lambda v: v.rank)],
        "resource_types": [
            {"code": code, "zh": zh, "en": en, "aliases": items(aliases)}
            for code, zh, en, aliases in RESOURCE_TYPES
        ],
        "licences": licences(),
        "languages": [
            {"code": code, "zh": zh, "en": en, "aliases": items(aliases)}
            for code, zh, en, aliases in LANGUAGES
        ],
        "textbooks": textbooks,
        "chapters": chapters({row["key"] for row in textbooks}),
    }


def render(document: dict[str, Any]) -> str:
    """The document as written to disk: indented UTF-8 JSON, one final newline."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "catalogue",
        nargs="?",
        type=Path,
        default=DEFAULT_CATALOGUE,
        help="GitHub tree JSON of ChinaTextbook (default: %(default)s)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="%(default)s"
    )
    args = parser.parse_args(argv)
    if not args.catalogue.is_file():
        parser.error(f"catalogue {args.catalogue} not found; pass its path")

    document = build(args.catalogue)
    args.output.write_text(render(document), encoding="utf-8")
    sizes = ", ".join(f"{len(v)} {k}" for k, v in document.items() if k != "version")
    print(f"wrote {args.output}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
