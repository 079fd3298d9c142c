#!/usr/bin/env python3
"""Generate the metric goldens in tests/data/metrics/ with rouge_score, scikit-learn and the
official LaMP formulas.

Usage: python3 scripts/goldens/metrics_goldens.py [--shared ../shared] [--out tests/data/metrics]

Real-text cases are not copied: each golden names the data folder and the rule that pairs texts
(e.g. "the first profile item's title against the gold title"), and the C++ test rebuilds the
pairs from the shared data before comparing. Tested with rouge_score 0.1.2, scikit-learn 1.9.1
and numpy 2.4.
"""
import argparse
import json
import math
import os

import numpy as np
from rouge_score import rouge_scorer, tokenize
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

LAMP_LABELS = {
    "LaMP_1": ["[1]", "[2]"],
    "LaMP_2": ["sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia",
               "dark comedy", "classic", "psychology", "fantasy", "romance", "thought-provoking",
               "social commentary", "violence", "true story"],
    "LaMP_3": ["1", "2", "3", "4", "5"],
}

SCORER = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)


def rouge_case(pred, gold):
    scores = SCORER.score(gold, pred)  # score(target, prediction)
    return {
        "prediction": pred,
        "gold": gold,
        "prediction_tokens": tokenize.tokenize(pred, None),
        "rouge1": [scores["rouge1"].precision, scores["rouge1"].recall, scores["rouge1"].fmeasure],
        "rougeL": [scores["rougeL"].precision, scores["rougeL"].recall, scores["rougeL"].fmeasure],
    }


def official_rouge_means(preds, golds):
    """Mean F-measures over stripped pairs, as the official LaMP evaluation feeds rouge_score."""
    r1 = [SCORER.score(g.strip(), p.strip())["rouge1"].fmeasure for p, g in zip(preds, golds)]
    rl = [SCORER.score(g.strip(), p.strip())["rougeL"].fmeasure for p, g in zip(preds, golds)]
    return {"rouge-1": float(np.mean(r1)) if r1 else 0.0, "rouge-L": float(np.mean(rl)) if rl else 0.0}


def official_classification(preds, golds, labels):
    def mapping(x):
        try:
            return labels.index(x)
        except ValueError:
            return -1
    p = [mapping(str(x).strip()) for x in preds]
    g = [mapping(str(x).strip()) for x in golds]
    return {
        "accuracy": float(accuracy_score(g, p)),
        "f1": float(f1_score(g, p, labels=list(range(len(labels))), average="macro")),
    }


def official_rating(preds, golds):
    def mapping(x, y):
        try:
            return float(x)
        except ValueError:
            y = float(y)
            return 1.0 if abs(1 - y) > abs(5 - y) else 5.0
    preds = [str(x).strip() for x in preds]
    golds = [str(x).strip() for x in golds]
    p = [mapping(x, y) for x, y in zip(preds, golds)]
    g = [mapping(x, x) for x in golds]
    return {
        "mae": float(mean_absolute_error(g, p)),
        "rmse": float(math.sqrt(mean_squared_error(g, p))),
    }


EDGE_PAIRS = [
    ("", ""),
    ("", "a title"),
    ("a title", ""),
    ("!!! ... ???", "!!!"),
    ("The the THE cat", "the cat the cat"),
    ("Deep Learning for NLP", "Deep learning for natural language processing"),
    ("İstanbul KELVIN \u212a scale", "istanbul kelvin k scale"),
    ("naïve café résumé", "naive cafe resume"),
    ("日本語のタイトル", "日本語"),
    ("emoji 🚀 launch", "emoji launch 🚀"),
    ("x2-3.5_y", "x2 3 5 y"),
    ("  leading and trailing  \n", "leading and trailing"),
    ("a b c d e f g", "g f e d c b a"),
    ("repeated repeated repeated words", "repeated words words"),
    ("Tab\tseparated\nlines", "tab separated lines"),
]

CLASSIFICATION_CASES = [
    ("LaMP_1", ["[1]", "[2]", "[1]", " [2] ", "2", "[1]"], ["[1]", "[1]", "[2]", "[2]", "[2]", "[1]"]),
    ("LaMP_1", ["[1]", "[1]", "[1]"], ["[1]", "[1]", "[1]"]),
    ("LaMP_2", ["comedy", "sci-fi", "Comedy", "true story", "dark comedy", "nonsense", "action"],
     ["comedy", "sci-fi", "comedy", "true story", "comedy", "violence", "classic"]),
    ("LaMP_3", ["5", "4", "3", "x", "1", "5.0"], ["5", "5", "3", "2", "1", "5"]),
]

RATING_CASES = [
    (["5", "4", "3", "2", "1"], ["5", "5", "5", "1", "1"]),
    (["garbage", "", "four", " 3 ", "4.5", "1e0"], ["1", "5", "3", "2", "4", "2"]),
    (["2", "3", "nothing"], ["3", "3", "3"]),
    (["-1", "10", "+2.5", "1_0"], ["1", "5", "2", "4"]),
]


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def real_generation(shared, folder, rule):
    questions = load(os.path.join(shared, "data", folder, "dev_questions.json"))
    golds = load(os.path.join(shared, "data", folder, "dev_outputs.json"))["golds"]
    gold_by_id = {g["id"]: g["output"] for g in golds}
    ids, preds, refs, r1, rl = [], [], [], [], []
    for q in questions:
        if rule == "first_title_vs_gold":
            pred = q["profile"][0]["title"] if q["profile"] else ""
            ref = gold_by_id[q["id"]]
        elif rule == "first_abstract_vs_query":
            pred = q["profile"][0]["abstract"] if q["profile"] else ""
            ref = q["input"][q["input"].find("paper:") + len("paper:"):].strip()
        else:
            raise ValueError(rule)
        case = SCORER.score(ref.strip(), pred.strip())
        ids.append(q["id"])
        r1.append(case["rouge1"].fmeasure)
        rl.append(case["rougeL"].fmeasure)
        preds.append(pred)
        refs.append(ref)
    return {"folder": folder, "rule": rule, "ids": ids, "rouge1": r1, "rougeL": rl,
            "means": official_rouge_means(preds, refs)}


def real_lamp3(shared):
    questions = load(os.path.join(shared, "data", "lamp3-amazon-mi", "dev_questions.json"))
    golds = load(os.path.join(shared, "data", "lamp3-amazon-mi", "dev_outputs.json"))["golds"]
    gold_by_id = {g["id"]: g["output"] for g in golds}
    preds = [q["profile"][0]["score"] if q["profile"] else "" for q in questions]
    refs = [gold_by_id[q["id"]] for q in questions]
    return {"folder": "lamp3-amazon-mi", "rule": "first_score_vs_gold",
            "classification": official_classification(preds, refs, LAMP_LABELS["LaMP_3"]),
            "rating": official_rating(preds, refs)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.path.join(root, "..", "shared"))
    parser.add_argument("--out", default=os.path.join(root, "tests", "data", "metrics"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def write(name, data):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")

    write("rouge_edge.json", {"cases": [rouge_case(p, g) for p, g in EDGE_PAIRS],
                              "means": official_rouge_means([p for p, _ in EDGE_PAIRS],
                                                            [g for _, g in EDGE_PAIRS])})
    write("classification.json", {"cases": [
        {"task": t, "predictions": p, "golds": g, **official_classification(p, g, LAMP_LABELS[t])}
        for t, p, g in CLASSIFICATION_CASES]})
    write("rating.json", {"cases": [{"predictions": p, "golds": g, **official_rating(p, g)}
                                    for p, g in RATING_CASES]})
    write("rouge_real.json", {"sets": [real_generation(args.shared, "lamp5-acl", "first_title_vs_gold"),
                                       real_generation(args.shared, "lamp5-long", "first_abstract_vs_query")]})
    write("lamp3_real.json", real_lamp3(args.shared))


if __name__ == "__main__":
    main()
