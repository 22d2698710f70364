import sys

counts = {}
for line in sys.stdin:
    for word in line.lower().split():
        word = word.strip(".,!?")
        if word:
            counts[word] = counts.get(word, 0) + 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
for word, c in top:
    print(word, c)
