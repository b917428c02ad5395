"""A tiny CLIP trained for a few seconds on 8x8 digits paired with captions ("a handwritten 3"),
then used as a zero-shot classifier: each held-out image gets the label whose prompt embedding is
closest, with no classifier trained; single prompts against a prompt ensemble."""

# --8<-- [start:data]
import torch
from sklearn.datasets import load_digits
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPTextConfig,
    CLIPVisionConfig,
    PreTrainedTokenizerFast,
)

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
digits = load_digits()  # 1797 grey 8x8 images, values 0..16
images = torch.tensor(digits.images)[:, None] / 8.0 - 1.0  # (1797, 1, 8, 8) in [-1, 1]
labels = torch.tensor(digits.target)
perm = torch.randperm(len(labels))
train, test = perm[:1400], perm[1400:]  # 397 held-out images, never seen in training

words = ["<bos>", "<eos>", "<pad>", "a", "an", "handwritten", "drawing", "photo", "of", "the", "digit",
         "number", *"0123456789"]
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", special_tokens=[("<bos>", 0), ("<eos>", 1)])
tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
templates = ["a handwritten {}", "the digit {}", "a drawing of a {}"]  # captions seen in training
print(tokenizer("a handwritten 3").input_ids, "<-", tokenizer.convert_ids_to_tokens(tokenizer("a handwritten 3").input_ids))
# --8<-- [end:data]

# --8<-- [start:train]
config = CLIPConfig(
    text_config=CLIPTextConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                               num_attention_heads=2, max_position_embeddings=8,
                               bos_token_id=0, eos_token_id=1, pad_token_id=2),
    vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=2, image_size=8, patch_size=4, num_channels=1),
    projection_dim=32,
)
model = CLIPModel(config)
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
for step in range(100):
    batch = train[torch.randint(len(train), (64,))]
    captions = [templates[step % 3].format(d) for d in labels[batch].tolist()]
    input_ids = tokenizer(captions, return_tensors="pt").input_ids  # (64, 5) or (64, 6): one template a step
    loss = model(input_ids=input_ids, pixel_values=images[batch], return_loss=True).loss  # symmetric CLIP loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step in (0, 99):
        print(f"step {step:3d}: loss {loss.item():.2f}, scale exp(t) {model.logit_scale.exp().item():.1f}")
# --8<-- [end:train]

# --8<-- [start:zeroshot]
from genai_guide.clip import ensemble_prompts, zero_shot_classify

model.eval()


def embed_texts(texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return model.get_text_features(input_ids=tokenizer(texts, return_tensors="pt").input_ids).pooler_output


with torch.no_grad():
    image_embeds = model.get_image_features(pixel_values=images[test]).pooler_output  # (397, 32)
truth = labels[test]
print(f"chance: {100 / 10:.1f}% | majority class: {100 * torch.bincount(truth).max().item() / len(truth):.1f}%")
for template in [*templates, "a photo of a {}"]:  # the last one was never seen in training
    class_embeds = embed_texts([template.format(d) for d in range(10)])  # one prompt per class: (10, 32)
    pred = zero_shot_classify(image_embeds, class_embeds)
    with torch.no_grad():  # the same argmax as CLIPModel's logits_per_image against the 10 prompts
        ref = model(input_ids=tokenizer([template.format(d) for d in range(10)], return_tensors="pt").input_ids,
                    pixel_values=images[test]).logits_per_image.argmax(dim=1)
    assert torch.equal(pred, ref)
    print(f"zero-shot, prompt {template.format('{label}')!r:<27} {100 * (pred == truth).double().mean().item():.1f}%")
per_template = [embed_texts([t.format(d) for d in range(10)]) for t in templates]  # 3 x (10, 32)
ensemble = ensemble_prompts(torch.stack(per_template, dim=1))  # (10, 3, 32) -> (10, 32)
pred = zero_shot_classify(image_embeds, ensemble)
accuracy = (pred == truth).double().mean().item()
print(f"zero-shot, ensemble of the 3 training prompts {100 * accuracy:.1f}%")
assert accuracy > 0.5  # far above chance (10%)
# --8<-- [end:zeroshot]
