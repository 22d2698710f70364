def is_vowel(ch):
    return ch.lower() in "aeiou"


def count_vowels(text):  # << START_OF_TRACE
    counts = {}
    for ch in text:
        if is_vowel(ch):
            counts[ch] = counts.get(ch, 0) + 1
    return counts


# input: "'Banana Split'"
