"""A script check: the answer may have at most `max_words` words (a case variable).

Reads the check's input (JSON) on stdin and prints its verdict as JSON.
"""
import json
import sys

check = json.load(sys.stdin)
words = len(check["output"].split())
limit = check["case"]["vars"]["max_words"]
print(json.dumps({
    "pass": words <= limit,
    "score": min(1.0, limit / max(words, 1)),
    "reason": f"{words} words (at most {limit})",
}))
