"""Measuring tools: image metrics, flicker metrics, evaluation on image sets, montages, synthetic pairs, the bench."""
